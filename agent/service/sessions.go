package service

import (
	"strconv"
	"time"

	"github.com/vigil-cc/vigil/protocol"
)

// session is one helper's desktop session as the service reports it: under
// the service's own id upstream, under the helper's id locally.
type session struct {
	id     string // the service's id, sent upstream
	local  string // the helper's id
	user   string // from the peer credentials
	h      *helper
	last   *protocol.Reading
	lastAt time.Time
}

// sessionIDs maps the service's session ids to the helpers' and hands out
// new ones: "<peer id>-<counter>", unique while the service runs.
type sessionIDs struct {
	byID    map[string]*session
	counter int
}

// open registers a new session of h for the helper's id local.
func (ids *sessionIDs) open(h *helper, local string) *session {
	if ids.byID == nil {
		ids.byID = map[string]*session{}
	}
	ids.counter++
	s := &session{
		id:    h.peer.ID + "-" + strconv.Itoa(ids.counter),
		local: local, user: h.peer.User, h: h,
	}
	h.local[local] = s
	ids.byID[s.id] = s
	return s
}

// forget drops s from both maps.
func (ids *sessionIDs) forget(s *session) {
	delete(s.h.local, s.local)
	delete(ids.byID, s.id)
}

// toHelper finds the session the coordinator means by the id at id and
// rewrites it to the helper's own; nil if the session is gone.
func (ids *sessionIDs) toHelper(id *string) *session {
	s := ids.byID[*id]
	if s != nil {
		*id = s.local
	}
	return s
}

// helper is s's helper; nil for no session.
func (s *session) helper() *helper {
	if s == nil {
		return nil
	}
	return s.h
}
