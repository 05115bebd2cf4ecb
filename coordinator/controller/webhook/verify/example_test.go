package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/vigil-cc/vigil/coordinator/controller/webhook/verify"
)

// A platform's webhook endpoint: verify, then reroute the logged-out user's
// conversations.
func ExampleVerifier_Handler() {
	v := &verify.Verifier{
		Secrets: []string{"the-current-shared-secret", "the-next-shared-secret"}, // two during a rotation
		Keys:    &verify.MemoryKeys{},                                            // or a table with a unique key
	}
	http.Handle("POST /vigil/events", v.Handler(func(ev verify.Event) error {
		switch ev.Type {
		case "user.logged_out":
			var data struct {
				Reroute struct {
					User          string `json:"user"`
					Conversations string `json:"conversations"`
				} `json:"reroute"`
			}
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				return err
			}
			log.Printf("rerouting %s conversations of %s", data.Reroute.Conversations, data.Reroute.User)
		case "user.warned", "user.warning_withdrawn":
			log.Printf("%s: %s", ev.User, ev.Type)
		}
		return nil
	}))
}

// sign is what the coordinator does: HMAC-SHA256 over "<t>.<body>".
func sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

func ExampleVerifier_Verify() {
	const secret = "the-current-shared-secret"
	body := []byte(`{"id":"evt_5f2c","type":"user.logged_out","occurred_at":"2026-03-02T09:30:00.250Z",` +
		`"user":"jane","data":{"reason":"inactivity","reroute":{"user":"jane","conversations":"all_active"}}}`)
	sent := time.Date(2026, 3, 2, 9, 30, 1, 0, time.UTC)
	h := http.Header{}
	h.Set("Vigil-Signature", sign(secret, sent, body))
	h.Set("Idempotency-Key", "evt_5f2c")

	now := sent.Add(2 * time.Second)
	v := &verify.Verifier{Secrets: []string{secret}, Keys: &verify.MemoryKeys{}, Now: func() time.Time { return now }}

	ev, err := v.Verify(h, body)
	fmt.Println("first:", ev.Type, ev.User, err)

	_, err = v.Verify(h, body) // the same request again
	fmt.Println("replayed:", errors.Is(err, verify.ErrReplay))

	tampered := []byte(string(body[:len(body)-3]) + `x"}}`)
	_, err = v.Verify(h, tampered)
	fmt.Println("tampered:", errors.Is(err, verify.ErrBadSignature))

	now = sent.Add(6 * time.Minute)
	_, err = v.Verify(h, body)
	fmt.Println("six minutes late:", errors.Is(err, verify.ErrStale))

	// Output:
	// first: user.logged_out jane <nil>
	// replayed: true
	// tampered: true
	// six minutes late: true
}
