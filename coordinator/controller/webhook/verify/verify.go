// Package verify is the receiving side of Vigil's webhooks: it checks a
// request's signature, its age and its idempotency key before the platform
// acts on the event. It uses only the standard library, so a platform can
// import it or copy it.
//
// A request carries
//
//	Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>[,v1=…]
//	Idempotency-Key: <the event's id>
//
// and a JSON body {"id", "type", "occurred_at", "user", "data"}. During a
// secret rotation the coordinator sends one v1 per secret it holds; a
// receiver accepts the request if any v1 matches any of its secrets.
package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTolerance is the largest accepted difference between the
// request's timestamp and the receiver's clock, either way.
const DefaultTolerance = 5 * time.Minute

// Why a request is refused. Test with errors.Is.
var (
	ErrNoSignature  = errors.New("no Vigil-Signature header")
	ErrMalformed    = errors.New("malformed request")
	ErrBadSignature = errors.New("no signature matches a secret")
	ErrStale        = errors.New("timestamp too far from now")
	// ErrReplay: the event's idempotency key was accepted before. The
	// event was already handled; answer 2xx so the sender stops retrying.
	ErrReplay = errors.New("event already received")
)

// Event is a webhook's body.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"` // user.warned, user.warning_withdrawn, user.logged_out
	OccurredAt time.Time       `json:"occurred_at"`
	User       string          `json:"user"`
	Data       json.RawMessage `json:"data"`
}

// Keys remembers the idempotency keys of events already accepted.
type Keys interface {
	// Claim records key, reporting false if it was there already.
	Claim(key string, now time.Time) bool
	// Release forgets key: handling the event failed, so its retry must be
	// let in.
	Release(key string)
}

// Verifier checks webhook requests.
type Verifier struct {
	// Secrets are the shared secrets accepted: one, or two during a rotation.
	Secrets []string
	// Tolerance: DefaultTolerance if zero.
	Tolerance time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Keys, if set, refuses a second request with the same idempotency key
	// (ErrReplay). Keep keys at least as long as the sender retries; a
	// database table with a unique key is the durable choice.
	Keys Keys
}

// Verify checks a request's headers and raw body and returns its event.
// With Keys set, a successful Verify claims the event's key: call
// v.Keys.Release(ev.ID) if handling it then fails.
func (v *Verifier) Verify(h http.Header, body []byte) (Event, error) {
	sig := h.Get("Vigil-Signature")
	if sig == "" {
		return Event{}, ErrNoSignature
	}
	ts, macs, err := parse(sig)
	if err != nil {
		return Event{}, err
	}
	if !v.matches(ts, macs, body) {
		return Event{}, ErrBadSignature
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	if skew := now().Sub(time.Unix(ts, 0)); skew > tol || skew < -tol {
		return Event{}, fmt.Errorf("%w: signed at %s, %s off (tolerance %s)", ErrStale,
			time.Unix(ts, 0).UTC().Format(time.RFC3339), skew.Round(time.Second), tol)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	if ev.ID == "" || ev.Type == "" {
		return Event{}, fmt.Errorf("%w: body has no id or type", ErrMalformed)
	}
	if k := h.Get("Idempotency-Key"); k != "" && k != ev.ID {
		return Event{}, fmt.Errorf("%w: Idempotency-Key %q is not the event's id %q", ErrMalformed, k, ev.ID)
	}
	if v.Keys != nil && !v.Keys.Claim(ev.ID, now()) {
		return ev, fmt.Errorf("%w: %s", ErrReplay, ev.ID)
	}
	return ev, nil
}

// parse splits "t=…,v1=…,v1=…"; unknown schemes are ignored.
func parse(header string) (ts int64, macs [][]byte, err error) {
	seenT := false
	for _, part := range strings.Split(header, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: signature part %q", ErrMalformed, part)
		}
		switch k {
		case "t":
			if ts, err = strconv.ParseInt(val, 10, 64); err != nil || seenT {
				return 0, nil, fmt.Errorf("%w: signature timestamp %q", ErrMalformed, val)
			}
			seenT = true
		case "v1":
			mac, err := hex.DecodeString(val)
			if err != nil || len(mac) != sha256.Size {
				return 0, nil, fmt.Errorf("%w: v1 signature is not 64 hex digits", ErrMalformed)
			}
			macs = append(macs, mac)
		}
	}
	if !seenT || len(macs) == 0 {
		return 0, nil, fmt.Errorf("%w: signature needs t= and v1=", ErrMalformed)
	}
	return ts, macs, nil
}

// matches reports whether any v1 is the HMAC of ts.body under any secret,
// comparing in constant time.
func (v *Verifier) matches(ts int64, macs [][]byte, body []byte) bool {
	ok := false
	for _, s := range v.Secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(strconv.FormatInt(ts, 10)))
		m.Write([]byte{'.'})
		m.Write(body)
		want := m.Sum(nil)
		for _, mac := range macs {
			if hmac.Equal(mac, want) {
				ok = true
			}
		}
	}
	return ok
}

// Handler serves webhooks: it verifies each request and passes the event
// to handle. A replay is answered 200 without calling handle (it was
// handled); a request that fails verification gets 400 or 401; if handle
// fails the key is released and the answer is 500, so the sender retries.
func (v *Verifier) Handler(handle func(Event) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		ev, err := v.Verify(r.Header, body)
		switch {
		case errors.Is(err, ErrReplay):
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, `{"duplicate":true}`)
			return
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrNoSignature):
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if err := handle(ev); err != nil {
			if v.Keys != nil {
				v.Keys.Release(ev.ID)
			}
			http.Error(w, "handling the event failed", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"ok":true}`)
	})
}

// MemoryKeys keeps idempotency keys in memory for Retain (24 h if zero).
// It is for tests and single-process receivers; a restart forgets them.
type MemoryKeys struct {
	Retain time.Duration

	mu     sync.Mutex
	seen   map[string]time.Time
	claims int
}

// Claim records key, reporting false if it is already held.
func (m *MemoryKeys) Claim(key string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	retain := m.Retain
	if retain <= 0 {
		retain = 24 * time.Hour
	}
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	if m.claims++; m.claims%1024 == 0 {
		for k, at := range m.seen {
			if now.Sub(at) > retain {
				delete(m.seen, k)
			}
		}
	}
	if at, ok := m.seen[key]; ok && now.Sub(at) <= retain {
		return false
	}
	m.seen[key] = now
	return true
}

// Release forgets key.
func (m *MemoryKeys) Release(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.seen, key)
}
