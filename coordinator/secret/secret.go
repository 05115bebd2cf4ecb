// Package secret makes bearer tokens and the hashes the store keeps of them.
// Only the hash is ever stored; the token is shown once, to whoever made it.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// Token prefixes say what a token is for when someone finds one in a file.
const (
	PrefixAPI        = "vgl_api_"
	PrefixEnrollment = "vgl_enr_"
	PrefixDevice     = "vgl_dev_"
)

// New returns a fresh token with prefix and its hash: 256 random bits.
func New(prefix string) (token string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, Hash(token)
}

// Bearer returns the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive, RFC 9110).
func Bearer(r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// Hash is what the store keeps of token. Tokens are long and random, so a
// plain SHA-256 is enough: there is nothing to brute-force.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
