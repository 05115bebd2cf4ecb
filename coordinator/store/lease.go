package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The leader's lease (migration 0004): replicas sharing one PostgreSQL
// database take it in turns. A replica holds it while expires_at, on the
// database's clock, is ahead; the holder renews it well before then. Taking
// a lapsed lease increments epoch, the fencing token: FencedTx writes only
// while the lease it was given is still the one in force, so an old leader
// that was paused or cut off can never record a decision once another
// replica could have taken over.

// ErrFenced: the lease given is no longer in force (it lapsed, or another
// replica took over).
var ErrFenced = errors.New("fenced: this replica no longer holds the leader's lease")

// Lease is the leader's lease as stored.
type Lease struct {
	Holder     string // the replica's random id for this run
	Address    string // where agents reach it (its advertised URL)
	Epoch      int64
	AcquiredAt time.Time
	ExpiresAt  time.Time
	// Live: the lease had not lapsed when it was read (the database's clock).
	Live bool
}

// dbNowMS is the database's clock in unix milliseconds.
func (s *Store) dbNowMS() string {
	if s.pg {
		return "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
	}
	return "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
}

func (s *Store) leaseCols() string {
	return "holder, address, epoch, acquired_at, expires_at, CASE WHEN expires_at > " + s.dbNowMS() + " THEN 1 ELSE 0 END"
}

func scanLease(sc scanner) (Lease, error) {
	var l Lease
	var acq, exp int64
	var live int64
	if err := sc.Scan(&l.Holder, &l.Address, &l.Epoch, &acq, &exp, &live); err != nil {
		return Lease{}, err
	}
	l.AcquiredAt, l.ExpiresAt, l.Live = fromMS(acq), fromMS(exp), live == 1
	return l, nil
}

// AcquireLease takes the lease for holder, reachable at address, for ttl,
// if it is free (never taken, lapsed or released), with the next epoch. ok
// is false when another replica holds it; the lease returned is then that
// one's.
func (s *Store) AcquireLease(ctx context.Context, holder, address string, ttl time.Duration) (l Lease, ok bool, err error) {
	if holder == "" {
		return Lease{}, false, invalid("lease holder is empty")
	}
	now := s.dbNowMS()
	l, err = queryRow(ctx, s.db, "acquire the leader's lease", scanLease,
		`UPDATE leader_lease SET holder = ?, address = ?, epoch = epoch + 1, acquired_at = `+now+`, expires_at = `+now+` + ?
WHERE id = 1 AND expires_at <= `+now+` RETURNING `+s.leaseCols(), holder, address, ttl.Milliseconds())
	if errors.Is(err, ErrNotFound) {
		cur, err := s.Leader(ctx)
		return cur, false, err
	}
	if err != nil {
		return Lease{}, false, err
	}
	return l, true, nil
}

// RenewLease extends l, which must still be in force, to ttl from now.
// ErrFenced if it is not.
func (s *Store) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	now := s.dbNowMS()
	n, err := queryRow(ctx, s.db, "renew the leader's lease", scanLease,
		`UPDATE leader_lease SET expires_at = `+now+` + ? WHERE id = 1 AND holder = ? AND epoch = ? AND expires_at > `+now+`
RETURNING `+s.leaseCols(), ttl.Milliseconds(), l.Holder, l.Epoch)
	if errors.Is(err, ErrNotFound) {
		return Lease{}, fmt.Errorf("store: renew the leader's lease (epoch %d): %w", l.Epoch, ErrFenced)
	}
	return n, err
}

// ReleaseLease ends l now, if it is still in force, so a standby takes over
// without waiting for it to lapse (a leader stopping in order).
func (s *Store) ReleaseLease(ctx context.Context, l Lease) error {
	now := s.dbNowMS()
	_, err := s.db.ExecContext(ctx, `UPDATE leader_lease SET expires_at = `+now+`
WHERE id = 1 AND holder = ? AND epoch = ? AND expires_at > `+now, l.Holder, l.Epoch)
	return wrap("release the leader's lease", err)
}

// Leader is the lease as it stands (Live false: nobody leads right now).
func (s *Store) Leader(ctx context.Context) (Lease, error) {
	return queryRow(ctx, s.rdb, "read the leader's lease", scanLease, "SELECT "+s.leaseCols()+" FROM leader_lease WHERE id = 1")
}

// FencedTx is Tx for a leader's decisions: it commits fn's writes only if
// l is still the lease in force at the commit. The check comes last, after
// fn, and share-locks the lease row until the commit, so a takeover cannot
// slip between the check and the commit, and a renewal or takeover waits
// for a commit only, never for a long batch. ErrFenced if l is not in
// force: nothing is written.
func (s *Store) FencedTx(ctx context.Context, l Lease, fn func(tx *Tx) error) error {
	return s.Tx(ctx, func(tx *Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		lock := ""
		if s.pg {
			lock = " FOR SHARE"
		}
		var one int
		err := tx.tx.QueryRowContext(ctx, `SELECT 1 FROM leader_lease WHERE id = 1 AND holder = ? AND epoch = ? AND expires_at > `+
			s.dbNowMS()+lock, l.Holder, l.Epoch).Scan(&one)
		if err != nil {
			if errors.Is(notFound(err), ErrNotFound) {
				return fmt.Errorf("store: lease epoch %d: %w", l.Epoch, ErrFenced)
			}
			return fmt.Errorf("store: check the leader's lease: %w", err)
		}
		return nil
	})
}
