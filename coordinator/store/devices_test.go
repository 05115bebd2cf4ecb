package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func newEnrollment(t testing.TB, s *Store, hash string, maxUses int, ttl time.Duration) Enrollment {
	t.Helper()
	e := Enrollment{ID: NewID(), Hash: []byte(hash), Note: "floor 3", CreatedBy: "admin:ops",
		CreatedAt: t0, ExpiresAt: t0.Add(ttl), MaxUses: maxUses}
	must(t, s.CreateEnrollment(context.Background(), e))
	return e
}

func TestEnrollments(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	e := newEnrollment(t, s, "enroll-1", 5, 24*time.Hour)
	got, err := s.Enrollment(ctx, e.ID)
	must(t, err)
	if got.ID != e.ID || !bytes.Equal(got.Hash, e.Hash) || got.Note != e.Note || got.CreatedBy != e.CreatedBy ||
		!got.CreatedAt.Equal(e.CreatedAt) || !got.ExpiresAt.Equal(e.ExpiresAt) || got.MaxUses != 5 || got.Uses != 0 ||
		!got.RevokedAt.IsZero() {
		t.Fatalf("Enrollment = %+v, want %+v", got, e)
	}
	newEnrollment(t, s, "enroll-2", 1, time.Hour)
	list, err := s.Enrollments(ctx)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("Enrollments = %+v", list)
	}
	_, err = s.Enrollment(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.RevokeEnrollment(ctx, "nope"), ErrNotFound)
	wantErr(t, s.CreateEnrollment(ctx, Enrollment{Hash: []byte("enroll-1"), ExpiresAt: t0.Add(time.Hour), MaxUses: 1}), ErrDuplicate)
	wantErr(t, s.CreateEnrollment(ctx, Enrollment{Hash: []byte("x"), ExpiresAt: t0.Add(time.Hour), MaxUses: 0}), ErrInvalid)
	wantErr(t, s.CreateEnrollment(ctx, Enrollment{Hash: []byte("x"), ExpiresAt: t0, MaxUses: 1}), ErrInvalid)
	wantErr(t, s.CreateEnrollment(ctx, Enrollment{ExpiresAt: t0.Add(time.Hour), MaxUses: 1}), ErrInvalid)
}

func TestEnroll(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	e := newEnrollment(t, s, "enroll", 2, time.Hour)
	now := t0.Add(time.Minute)

	d, err := s.Enroll(ctx, []byte("enroll"), now, Device{Host: "ws-1", OS: "linux", TokenHash: []byte("dev-1")})
	must(t, err)
	if d.ID == "" || d.Status != DevicePending || d.EnrollmentID != e.ID || !d.CreatedAt.Equal(now) || !d.LastSeenAt.Equal(now) {
		t.Fatalf("Enroll = %+v", d)
	}
	// A device token already taken: refused, and no use is spent.
	_, err = s.Enroll(ctx, []byte("enroll"), now, Device{Host: "ws-2", OS: "linux", TokenHash: []byte("dev-1")})
	wantErr(t, err, ErrDuplicate)
	d2, err := s.Enroll(ctx, []byte("enroll"), now, Device{ID: "dev2id", Host: "ws-2", OS: "windows", TokenHash: []byte("dev-2"), Status: DeviceApproved})
	must(t, err)
	if d2.ID != "dev2id" || d2.Status != DeviceApproved {
		t.Fatalf("Enroll = %+v", d2)
	}
	got, _ := s.Enrollment(ctx, e.ID)
	if got.Uses != 2 {
		t.Fatalf("uses = %d, want 2", got.Uses)
	}
	_, err = s.Enroll(ctx, []byte("enroll"), now, Device{Host: "ws-3", OS: "linux", TokenHash: []byte("dev-3")})
	wantErr(t, err, ErrEnrollmentUsedUp)
	_, err = s.Enroll(ctx, []byte("unknown"), now, Device{Host: "ws-3", OS: "linux", TokenHash: []byte("dev-3")})
	wantErr(t, err, ErrNotFound)
	_, err = s.Enroll(ctx, []byte("enroll"), now, Device{Host: "ws-3", OS: "linux", TokenHash: []byte("dev-3"), Status: DeviceRevoked})
	wantErr(t, err, ErrInvalid)
	_, err = s.Enroll(ctx, []byte("enroll"), now, Device{Host: "ws-3", OS: "linux"})
	wantErr(t, err, ErrInvalid)
}

func TestEnrollExpiryAndRevocation(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	exp := newEnrollment(t, s, "short", 10, time.Hour)
	dev := func(n int) Device {
		return Device{Host: fmt.Sprintf("ws-%d", n), OS: "linux", TokenHash: fmt.Appendf(nil, "dev-%d", n)}
	}
	// Valid up to the millisecond before expiry, not at it.
	_, err := s.Enroll(ctx, []byte("short"), exp.ExpiresAt.Add(-time.Millisecond), dev(1))
	must(t, err)
	_, err = s.Enroll(ctx, []byte("short"), exp.ExpiresAt, dev(2))
	wantErr(t, err, ErrEnrollmentExpired)

	rev := newEnrollment(t, s, "revoked", 10, time.Hour)
	must(t, s.RevokeEnrollment(ctx, rev.ID))
	must(t, s.RevokeEnrollment(ctx, rev.ID)) // again: no change
	_, err = s.Enroll(ctx, []byte("revoked"), t0, dev(3))
	wantErr(t, err, ErrEnrollmentRevoked)
	// Revocation is reported before expiry and use.
	_, err = s.Enroll(ctx, []byte("revoked"), t0.Add(48*time.Hour), dev(3))
	wantErr(t, err, ErrEnrollmentRevoked)
	got, _ := s.Enrollment(ctx, rev.ID)
	if got.Uses != 0 || !got.RevokedAt.Equal(t0) {
		t.Fatalf("revoked enrollment = %+v", got)
	}
}

// Many devices enrolling at once with a token of 3 uses: exactly 3 get in,
// also across two Stores (processes) on the same file.
func TestEnrollConcurrent(t *testing.T) {
	s1, path := openTest(t)
	s2 := openAt(t, path)
	ctx := context.Background()
	e := newEnrollment(t, s1, "three", 3, time.Hour)

	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		st := s1
		if i%2 == 1 {
			st = s2
		}
		wg.Go(func() {
			_, errs[i] = st.Enroll(ctx, []byte("three"), t0.Add(time.Second),
				Device{Host: fmt.Sprintf("ws-%d", i), OS: "linux", TokenHash: fmt.Appendf(nil, "dev-%d", i)})
		})
	}
	wg.Wait()
	ok, usedUp := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrEnrollmentUsedUp):
			usedUp++
		default:
			t.Errorf("enroll %d: %v", i, err)
		}
	}
	if ok != 3 || usedUp != n-3 {
		t.Fatalf("%d enrolled, %d used up; want 3 and %d", ok, usedUp, n-3)
	}
	devs, err := s1.Devices(ctx)
	must(t, err)
	got, _ := s2.Enrollment(ctx, e.ID)
	if len(devs) != 3 || got.Uses != 3 {
		t.Fatalf("%d devices, %d uses; want 3 and 3", len(devs), got.Uses)
	}
}

func TestDevices(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	newEnrollment(t, s, "enroll", 5, time.Hour)
	d, err := s.Enroll(ctx, []byte("enroll"), t0, Device{Host: "ws-1", OS: "linux", TokenHash: []byte("tok-1")})
	must(t, err)
	_, err = s.Enroll(ctx, []byte("enroll"), t0.Add(time.Second), Device{Host: "ws-2", OS: "darwin", TokenHash: []byte("tok-2")})
	must(t, err)

	byHash, err := s.DeviceByTokenHash(ctx, []byte("tok-1"))
	must(t, err)
	byID, err := s.Device(ctx, d.ID)
	must(t, err)
	for _, got := range []Device{byHash, byID} {
		if got.ID != d.ID || got.Host != "ws-1" || got.OS != "linux" || !bytes.Equal(got.TokenHash, []byte("tok-1")) ||
			got.Status != DevicePending || got.EnrollmentID != d.EnrollmentID || !got.CreatedAt.Equal(t0) || !got.LastSeenAt.Equal(t0) {
			t.Fatalf("device = %+v, want %+v", got, d)
		}
	}
	_, err = s.DeviceByTokenHash(ctx, []byte("nope"))
	wantErr(t, err, ErrNotFound)
	_, err = s.Device(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	list, err := s.Devices(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != d.ID || list[1].Host != "ws-2" {
		t.Fatalf("Devices = %+v", list)
	}

	// Status changes with their audit.
	must(t, s.SetDeviceStatus(ctx, d.ID, DeviceApproved, entry("device.approved", "")))
	wantErr(t, s.SetDeviceStatus(ctx, "nope", DeviceApproved, entry("device.approved", "")), ErrNotFound)
	wantErr(t, s.SetDeviceStatus(ctx, d.ID, "lost", entry("device.lost", "")), ErrInvalid)
	if err := s.SetDeviceStatus(ctx, d.ID, DeviceRevoked, AuditEntry{}); err == nil {
		t.Fatal("SetDeviceStatus without a valid audit entry succeeded")
	}
	got, _ := s.Device(ctx, d.ID)
	if got.Status != DeviceApproved {
		t.Fatalf("status = %s, want approved (the failed change must not stick)", got.Status)
	}
	es, _ := s.AuditEntries(ctx, AuditFilter{Kind: "device.approved"})
	if len(es) != 1 {
		t.Fatalf("audit = %+v", es)
	}

	// Last seen moves forward only.
	must(t, s.TouchDevice(ctx, d.ID, t0.Add(time.Minute)))
	must(t, s.TouchDevice(ctx, d.ID, t0.Add(30*time.Second)))
	got, _ = s.Device(ctx, d.ID)
	if !got.LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("last seen = %v", got.LastSeenAt)
	}
	wantErr(t, s.TouchDevice(ctx, "nope", t0), ErrNotFound)
}

func TestTxEnrollWithAudit(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	e := newEnrollment(t, s, "enroll", 1, time.Hour)
	var dev Device
	must(t, s.Tx(ctx, func(tx *Tx) error {
		var err error
		if dev, err = tx.Enroll(ctx, []byte("enroll"), t0, Device{Host: "ws", OS: "linux", TokenHash: []byte("t")}); err != nil {
			return err
		}
		_, err = tx.Audit(ctx, AuditEntry{Actor: "device:" + dev.ID, Kind: "device.enrolled"})
		return err
	}))
	es, _ := s.AuditEntries(ctx, AuditFilter{Kind: "device.enrolled"})
	if len(es) != 1 || es[0].Actor != "device:"+dev.ID {
		t.Fatalf("audit = %+v", es)
	}
	got, _ := s.Enrollment(ctx, e.ID)
	if got.Uses != 1 {
		t.Fatalf("uses = %d", got.Uses)
	}
}

// A token's scope: a host pattern, checked before the use is counted, and
// whether its devices are approved at once or wait pending.
func TestEnrollmentScope(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	wantErr(t, s.CreateEnrollment(ctx, Enrollment{Hash: []byte("bad"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), MaxUses: 1, HostPattern: "ws-[a"}), ErrInvalid)
	scoped := Enrollment{ID: NewID(), Hash: []byte("floor2"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), MaxUses: 5,
		HostPattern: "FLOOR2-*", AutoApprove: true}
	must(t, s.CreateEnrollment(ctx, scoped))
	got, err := s.Enrollment(ctx, scoped.ID)
	must(t, err)
	if got.HostPattern != "FLOOR2-*" || !got.AutoApprove {
		t.Fatalf("scope not kept: %+v", got)
	}
	_, err = s.Enroll(ctx, []byte("floor2"), t0, Device{Host: "floor3-ws1", OS: "linux", TokenHash: []byte("d1")})
	wantErr(t, err, ErrEnrollmentHost)
	d, err := s.Enroll(ctx, []byte("floor2"), t0, Device{Host: "Floor2-WS1", OS: "linux", TokenHash: []byte("d2")})
	must(t, err)
	if d.Status != DeviceApproved {
		t.Fatalf("auto-approving token gave %s", d.Status)
	}
	if got, _ := s.Enrollment(ctx, scoped.ID); got.Uses != 1 {
		t.Fatalf("uses = %d, want 1 (the refused host used nothing)", got.Uses)
	}
	// The caller may still hold the device back (--require-approval).
	d, err = s.Enroll(ctx, []byte("floor2"), t0, Device{Host: "floor2-ws2", OS: "linux", TokenHash: []byte("d3"), Status: DevicePending})
	must(t, err)
	if d.Status != DevicePending {
		t.Fatalf("forced pending gave %s", d.Status)
	}
	newEnrollment(t, s, "plain", 1, time.Hour)
	d, err = s.Enroll(ctx, []byte("plain"), t0, Device{Host: "anything", OS: "linux", TokenHash: []byte("d4")})
	must(t, err)
	if d.Status != DevicePending {
		t.Fatalf("a token that does not auto-approve gave %s", d.Status)
	}
}
