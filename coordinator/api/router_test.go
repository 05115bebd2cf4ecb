package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Under /api/v1/ even the router's answers are the API's JSON.
func TestRouterAnswersJSON(t *testing.T) {
	mux := http.NewServeMux()
	(&API{}).Register(mux)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
		text         string
	}{
		{"GET", "/api/v1/nothing-here", http.StatusNotFound, "", "no such endpoint: GET /api/v1/nothing-here"},
		{"GET", "/api/v1/users/jane/nothing", http.StatusNotFound, "", "no such endpoint"},
		{"DELETE", "/api/v1/settings", http.StatusMethodNotAllowed, "GET, HEAD, PUT", "DELETE /api/v1/settings is not allowed; allowed: GET, HEAD, PUT"},
		{"GET", "/api/v1/enroll", http.StatusMethodNotAllowed, "POST", "allowed: POST"},
		{"PATCH", "/api/v1/mappings/corp%5Cjane", http.StatusMethodNotAllowed, "DELETE, PUT", "not allowed"},
		// A route's own answer is untouched: no token.
		{"GET", "/api/v1/settings", http.StatusUnauthorized, "", "missing bearer token"},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		var body struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Errorf("%s %s: body %q is not JSON: %v", tc.method, tc.path, rec.Body, err)
		}
		switch {
		case rec.Code != tc.status:
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.status)
		case rec.Header().Get("Content-Type") != "application/json":
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, rec.Header().Get("Content-Type"))
		case rec.Header().Get("Allow") != tc.allow:
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, rec.Header().Get("Allow"), tc.allow)
		case !strings.Contains(body.Error, tc.text):
			t.Errorf("%s %s: error %q, want it to say %q", tc.method, tc.path, body.Error, tc.text)
		}
	}
}
