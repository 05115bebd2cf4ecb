package verify_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator/controller/webhook/verify"
)

func TestVerifyRejects(t *testing.T) {
	const secret, other = "current-secret-0123456789", "next-secret-9876543210"
	body := []byte(`{"id":"evt_1","type":"user.warned","occurred_at":"2026-03-02T09:30:00Z","user":"jane","data":{}}`)
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	header := func(sig string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set("Vigil-Signature", sig)
		}
		h.Set("Idempotency-Key", "evt_1")
		return h
	}
	for _, tc := range []struct {
		name    string
		h       http.Header
		body    []byte
		secrets []string
		want    error
	}{
		{"good", header(sign(secret, now, body)), body, []string{secret}, nil},
		{"good, 4m59s old", header(sign(secret, now.Add(-299*time.Second), body)), body, []string{secret}, nil},
		{"good, 4m59s ahead", header(sign(secret, now.Add(299*time.Second), body)), body, []string{secret}, nil},
		{"rotation: receiver has the new secret only", header(sign(secret, now, body) + "," + strings.Split(sign(other, now, body), ",")[1]), body, []string{other}, nil},
		{"rotation: receiver has both, sender the old", header(sign(secret, now, body)), body, []string{other, secret}, nil},
		{"wrong secret", header(sign(other, now, body)), body, []string{secret}, verify.ErrBadSignature},
		{"tampered body", header(sign(secret, now, body)), []byte(strings.Replace(string(body), "jane", "joan", 1)), []string{secret}, verify.ErrBadSignature},
		{"timestamp changed", header(strings.Replace(sign(secret, now, body), "t="+strconv.FormatInt(now.Unix(), 10), "t="+strconv.FormatInt(now.Unix()+1, 10), 1)), body, []string{secret}, verify.ErrBadSignature},
		{"older than 5 min", header(sign(secret, now.Add(-5*time.Minute-time.Second), body)), body, []string{secret}, verify.ErrStale},
		{"more than 5 min in the future", header(sign(secret, now.Add(5*time.Minute+time.Second), body)), body, []string{secret}, verify.ErrStale},
		{"no header", header(""), body, []string{secret}, verify.ErrNoSignature},
		{"no v1", header("t=" + strconv.FormatInt(now.Unix(), 10)), body, []string{secret}, verify.ErrMalformed},
		{"no t", header(strings.Split(sign(secret, now, body), ",")[1]), body, []string{secret}, verify.ErrMalformed},
		{"v1 not hex", header("t=1,v1=zz"), body, []string{secret}, verify.ErrMalformed},
		{"body not JSON", header(sign(secret, now, []byte("hello"))), []byte("hello"), []string{secret}, verify.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &verify.Verifier{Secrets: tc.secrets, Now: func() time.Time { return now }, Keys: &verify.MemoryKeys{}}
			ev, err := v.Verify(tc.h, tc.body)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err == nil && (ev.ID != "evt_1" || ev.User != "jane") {
				t.Errorf("event %+v", ev)
			}
		})
	}
}

func TestReplayedKeyIsRejectedUntilReleased(t *testing.T) {
	const secret = "current-secret-0123456789"
	body := []byte(`{"id":"evt_2","type":"user.logged_out","occurred_at":"2026-03-02T09:30:00Z","user":"jane","data":{}}`)
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	v := &verify.Verifier{Secrets: []string{secret}, Now: func() time.Time { return now }, Keys: &verify.MemoryKeys{}}
	h := http.Header{"Vigil-Signature": {sign(secret, now, body)}}
	if _, err := v.Verify(h, body); err != nil {
		t.Fatal(err)
	}
	// The same signature twice, and the same key freshly signed later (a
	// retry after the answer was lost): both are replays.
	if _, err := v.Verify(h, body); !errors.Is(err, verify.ErrReplay) {
		t.Errorf("same request again: %v, want ErrReplay", err)
	}
	now = now.Add(time.Minute)
	h2 := http.Header{"Vigil-Signature": {sign(secret, now, body)}}
	if _, err := v.Verify(h2, body); !errors.Is(err, verify.ErrReplay) {
		t.Errorf("same key, new signature: %v, want ErrReplay", err)
	}
	// Handling failed: released, the retry gets in once.
	v.Keys.Release("evt_2")
	if _, err := v.Verify(h2, body); err != nil {
		t.Errorf("after release: %v", err)
	}
	// A header key that is not the body's id is refused.
	h3 := http.Header{"Vigil-Signature": {sign(secret, now, body)}, "Idempotency-Key": {"evt_other"}}
	if _, err := v.Verify(h3, body); !errors.Is(err, verify.ErrMalformed) {
		t.Errorf("mismatched Idempotency-Key: %v, want ErrMalformed", err)
	}
}

func TestMemoryKeysExpire(t *testing.T) {
	m := &verify.MemoryKeys{Retain: time.Hour}
	t0 := time.Now()
	if !m.Claim("k", t0) || m.Claim("k", t0.Add(time.Minute)) {
		t.Fatal("claim/claim again")
	}
	if !m.Claim("k", t0.Add(2*time.Hour)) {
		t.Error("a key past its retention is forgotten")
	}
}

// FuzzVerify: whatever the header and body, Verify does not panic, and it
// accepts only a request signed with the secret.
func FuzzVerify(f *testing.F) {
	const secret = "current-secret-0123456789"
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	body := `{"id":"evt_1","type":"user.warned","occurred_at":"2026-03-02T09:30:00Z","user":"jane","data":{}}`
	f.Add(sign(secret, now, []byte(body)), body)
	f.Add("t=1,v1=00", body)
	f.Add("t=,v1=", "")
	f.Add("v1="+strings.Repeat("ab", 32)+",t=1772443800", body)
	f.Add("t=1772443800,t=1772443800,v1=zz", "{}")
	f.Fuzz(func(t *testing.T, header, body string) {
		v := &verify.Verifier{Secrets: []string{secret}, Now: func() time.Time { return now }}
		ev, err := v.Verify(http.Header{"Vigil-Signature": {header}}, []byte(body))
		if err == nil && !validAmong(header, secret, body) {
			t.Fatalf("accepted %q %q as %+v", header, body, ev)
		}
	})
}

func mustTS(header string) int64 {
	for _, p := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "t="); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// validAmong reports whether one of header's v1 values is the right MAC.
func validAmong(header, secret, body string) bool {
	want := strings.TrimPrefix(strings.Split(sign(secret, time.Unix(mustTS(header), 0), []byte(body)), ",")[1], "v1=")
	for _, p := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "v1="); ok && strings.EqualFold(v, want) {
			return true
		}
	}
	return false
}
