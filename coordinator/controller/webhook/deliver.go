package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/coordinator/setting"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/backoff"
)

// MinSecretLen is the shortest webhook secret accepted.
const MinSecretLen = 16

// Backoff spaces the attempts to deliver one event (a failure's delay,
// capped, with jitter so a receiver coming back is not hit by every event
// at once). Zero numbers take DefaultBackoff's; a negative Jitter is none.
type Backoff = backoff.Backoff

// DefaultBackoff is 1 s, ×1.6, ±20 %, at most 2 min.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 2 * time.Minute, Factor: 1.6, Jitter: 0.2}

// Config is where and how to deliver.
type Config struct {
	URL string // https, or http to a loopback address
	// Secrets sign every request: the current one, and during a rotation
	// the next (or previous) one too; the receiver accepts either.
	Secrets []string
	Timeout time.Duration // per attempt; 10 s if zero
	Backoff Backoff
	Batch   int           // events read per round; 50 if zero
	Poll    time.Duration // the longest sleep with nothing due; 5 s if zero
	Client  *http.Client  // default: Timeout, redirects not followed
	Now     func() time.Time
	Log     *slog.Logger
}

// Validate says what to fix. Its errors are *setting.Error naming URL,
// Secret (Secrets[0]) and SecretNext (Secrets[1]).
func (c *Config) Validate() error {
	if c.URL == "" {
		return setting.Errorf("{URL} is required for webhook delivery")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return setting.Errorf("{URL} must be an absolute http(s) URL, got %q", c.URL)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return setting.Errorf("{URL} must use https (plain http only to a loopback address), got %q", c.URL)
	}
	if len(c.Secrets) == 0 {
		return setting.Errorf("{Secret} is required for webhook delivery")
	}
	for i, s := range c.Secrets {
		if len(s) < MinSecretLen {
			name := "{Secret}"
			if i > 0 {
				name = "{SecretNext}"
			}
			return setting.Errorf(name+" must be at least %d characters", MinSecretLen)
		}
	}
	if len(c.Secrets) == 2 && c.Secrets[0] == c.Secrets[1] {
		return setting.Errorf("{SecretNext} must differ from {Secret}")
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Deliverer sends the outbox's events to the platform, at least once each.
// One deliverer per store: with SQLite nothing is claimed (docs/store.md).
type Deliverer struct {
	st      *store.Store
	cfg     Config
	secrets [][]byte
	client  *http.Client
	log     *slog.Logger
	wake    chan struct{}

	mu              sync.Mutex
	lastError       string
	lastErrorAt     time.Time
	lastDeliveredAt time.Time
	delivered       uint64
	failed          uint64
}

// NewDeliverer checks cfg and returns a deliverer for st's outbox.
func NewDeliverer(st *store.Store, cfg Config) (*Deliverer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Backoff = cfg.Backoff.Fill(DefaultBackoff)
	client := cfg.Client
	if client == nil {
		client = &http.Client{
			Timeout: cfg.Timeout,
			// A redirect is a failure to deliver, not a new address.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	d := &Deliverer{st: st, cfg: cfg, client: client, log: cfg.Log, wake: make(chan struct{}, 1)}
	for _, s := range cfg.Secrets {
		d.secrets = append(d.secrets, []byte(s))
	}
	return d, nil
}

// Notify wakes the deliverer: events were enqueued. It never blocks.
func (d *Deliverer) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers due events until ctx ends: at once when notified, and
// otherwise when the next retry falls due.
func (d *Deliverer) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C:
		}
		full, err := d.DeliverDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := d.cfg.Poll
		switch {
		case err != nil:
			d.log.Error("delivering webhooks", "err", err)
		case full:
			wait = 0 // more may be due
		default:
			if st, err := d.st.OutboxStatus(ctx); err == nil && !st.NextAttempt.IsZero() {
				wait = min(max(st.NextAttempt.Sub(d.cfg.Now()), 0), d.cfg.Poll)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// DeliverDue sends one batch of due events, oldest due first, and records
// each outcome. full reports that the batch was full (more may be due).
func (d *Deliverer) DeliverDue(ctx context.Context) (full bool, err error) {
	due, err := d.st.DueOutbox(ctx, d.cfg.Now(), d.cfg.Batch)
	if err != nil {
		return false, err
	}
	for _, e := range due {
		if err := d.deliver(ctx, e); err != nil {
			return false, err
		}
	}
	return len(due) == d.cfg.Batch, nil
}

// deliver makes one attempt at e and records it; the error is only for
// failing to record.
func (d *Deliverer) deliver(ctx context.Context, e store.OutboxEvent) error {
	retryAfter, sendErr := d.send(ctx, e)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the attempt does not count; it stays due
	}
	now := d.cfg.Now()
	if sendErr == nil {
		if err := d.st.MarkDelivered(ctx, e.ID, now); err != nil {
			return err
		}
		d.mu.Lock()
		d.delivered++
		d.lastDeliveredAt = now
		d.mu.Unlock()
		return nil
	}
	wait := max(d.cfg.Backoff.Delay(e.Attempts+1, rand.Float64()), min(retryAfter, d.cfg.Backoff.Max))
	msg := sendErr.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	d.log.Warn("webhook delivery failed", "event", e.Key, "type", e.Kind, "attempt", e.Attempts+1, "err", msg, "retry_in", wait)
	d.mu.Lock()
	d.failed++
	d.lastError, d.lastErrorAt = msg, now
	d.mu.Unlock()
	return d.st.MarkFailed(ctx, e.ID, msg, now.Add(wait))
}

// send POSTs e, signed now. A 2xx answer is delivery; anything else is a
// failure, with the receiver's Retry-After if it gave one.
func (d *Deliverer) send(ctx context.Context, e store.OutboxEvent) (retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(e.Payload))
	if err != nil {
		return 0, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-coordinator")
	req.Header.Set(SignatureHeader, Sign(d.cfg.Now(), e.Payload, d.secrets...))
	req.Header.Set(IdempotencyHeader, e.Key)
	req.Header.Set(EventHeader, e.Kind)
	req.Header.Set(AttemptHeader, strconv.Itoa(e.Attempts+1))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return 0, nil
	}
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	text := strings.TrimSpace(string(snippet))
	if len(text) > 200 {
		text = text[:200]
	}
	if text != "" {
		return retryAfter, fmt.Errorf("HTTP %d from the receiver: %s", resp.StatusCode, text)
	}
	return retryAfter, fmt.Errorf("HTTP %d from the receiver", resp.StatusCode)
}

// Backlog is the state of delivery, for the API and metrics.
type Backlog struct {
	store.OutboxStatus
	LastError       string    // the last failed attempt since the coordinator started
	LastErrorAt     time.Time // zero if none
	LastDeliveredAt time.Time // zero if none since start
	Delivered       uint64    // events delivered since start
	Failed          uint64    // failed attempts since start
}

// Backlog reports the undelivered events and the last outcomes.
func (d *Deliverer) Backlog(ctx context.Context) (Backlog, error) {
	st, err := d.st.OutboxStatus(ctx)
	if err != nil {
		return Backlog{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return Backlog{OutboxStatus: st, LastError: d.lastError, LastErrorAt: d.lastErrorAt,
		LastDeliveredAt: d.lastDeliveredAt, Delivered: d.delivered, Failed: d.failed}, nil
}

// Pending is the number of undelivered events, for the metrics' gauge.
func (d *Deliverer) Pending() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.st.OutboxBacklog(ctx)
}
