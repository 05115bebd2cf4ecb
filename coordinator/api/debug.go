package api

import (
	"net/http"
	"net/http/pprof"
)

// registerDebug serves Go's profiler to admins, for diagnosing a live
// coordinator: fetch a profile with the admin token (curl -H "Authorization:
// Bearer …" …/debug/pprof/heap > heap.pb.gz) and open it with go tool pprof.
// /debug/pprof/heap?gc=1 collects garbage first.
func (a *API) registerDebug(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.authenticate(r, admins); err != nil {
			a.writeError(w, err)
			return
		}
		switch r.URL.Path {
		case "/debug/pprof/profile":
			pprof.Profile(w, r)
		case "/debug/pprof/trace":
			pprof.Trace(w, r)
		default:
			pprof.Index(w, r)
		}
	})
}
