package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Headers of every webhook request.
const (
	// SignatureHeader: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>",
	// with one v1 per configured secret during a rotation.
	SignatureHeader = "Vigil-Signature"
	// IdempotencyHeader repeats the event's id.
	IdempotencyHeader = "Idempotency-Key"
	// EventHeader repeats the event's type.
	EventHeader = "Vigil-Event"
	// AttemptHeader counts delivery attempts of this event, from 1.
	AttemptHeader = "Vigil-Delivery-Attempt"
)

// Sign returns the Vigil-Signature value for body sent at t: the unix
// timestamp and one v1 signature per secret, in the order given.
func Sign(t time.Time, body []byte, secrets ...[]byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		m := hmac.New(sha256.New, s)
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}
