package secret

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestBearer(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer abc":   "abc",
		"BEARER  abc ": "abc",
		"Basic abc":    "",
		"Bearer":       "",
		"Bearer ":      "",
		"":             "",
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", header)
		got, ok := Bearer(r)
		if got != want || ok != (want != "") {
			t.Errorf("Bearer(%q) = %q, %v; want %q", header, got, ok, want)
		}
	}
}

func TestNew(t *testing.T) {
	a, ha := New(PrefixDevice)
	b, hb := New(PrefixDevice)
	if a == b || bytes.Equal(ha, hb) {
		t.Fatal("two tokens are equal")
	}
	if !strings.HasPrefix(a, PrefixDevice) || len(a) != len(PrefixDevice)+43 {
		t.Errorf("token %q: want prefix %q and 43 characters of base64url", a, PrefixDevice)
	}
	if !bytes.Equal(Hash(a), ha) || bytes.Equal(Hash(a+"x"), ha) {
		t.Error("Hash does not identify the token")
	}
}
