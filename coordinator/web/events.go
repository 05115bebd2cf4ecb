package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// The live pages (dashboard, desk) get the engine's decisions through a
// broker. Its decisions method is a core handler: it runs with the core
// locked, so it only copies each decision into the bounded queue of every
// subscriber it concerns. A subscriber whose queue is full is dropped (its
// queue closed); its page's EventSource reconnects and starts again from a
// fresh snapshot, so a slow browser costs itself a reconnect and never
// holds up the core or anyone else.
//
// Lock order: the core's lock, then the broker's. A page subscribes inside
// core.View, so its snapshot and its subscription are atomic: every
// decision after the snapshot is in its queue, none before it.

// subscriberQueue is each subscriber's queue length: room for a settings
// change that warns a hundred users at once.
const subscriberQueue = 256

type eventKind uint8

const (
	evState    eventKind = iota + 1 // a user's state changed (State)
	evWarn                          // the warning shows or its deadline moved (Deadline)
	evWithdraw                      // the warning was taken down (Reason)
	evLogout                        // logged out for inactivity (At)
	evPolicy                        // the settings in force changed (Policy)
)

// event is one thing a live page learns.
type event struct {
	kind     eventKind
	user     string
	at       time.Time
	state    engine.State
	deadline time.Time
	reason   string
	policy   store.Settings
}

type subscriber struct {
	user string // "" for every user (the dashboard)
	ch   chan event
}

type broker struct {
	queue int

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	drops  int // subscribers dropped for a full queue, for tests and logs
}

func newBroker(queue int) *broker {
	return &broker{queue: queue, subs: map[*subscriber]struct{}{}}
}

// subscribe adds a subscriber for user ("" for all); nil once closed.
func (b *broker) subscribe(user string) *subscriber {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	s := &subscriber{user: user, ch: make(chan event, b.queue)}
	b.subs[s] = struct{}{}
	return s
}

// unsubscribe removes s if it is still there.
func (b *broker) unsubscribe(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

// decisions queues ds for the subscribers they concern. Called with the
// core locked: it never blocks.
func (b *broker) decisions(ds []engine.Decision) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) == 0 {
		return
	}
	for _, d := range ds {
		ev := event{user: d.User, at: d.At}
		switch d.Kind {
		case engine.DecisionChanged:
			ev.kind, ev.state = evState, d.State
		case engine.DecisionWarn:
			ev.kind, ev.deadline = evWarn, d.Deadline
		case engine.DecisionWithdraw:
			ev.kind, ev.reason = evWithdraw, d.Reason.String()
		case engine.DecisionLogout:
			ev.kind = evLogout
		default:
			continue
		}
		for s := range b.subs {
			if s.user == "" || s.user == d.User {
				b.offer(s, ev)
			}
		}
	}
}

// publish queues ev for every subscriber.
func (b *broker) publish(ev event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		b.offer(s, ev)
	}
}

// offer queues ev for s, or drops s if its queue is full. Called locked.
func (b *broker) offer(s *subscriber, ev event) {
	select {
	case s.ch <- ev:
	default:
		delete(b.subs, s)
		close(s.ch)
		b.drops++
	}
}

// close ends every subscription and refuses new ones.
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		close(s.ch)
	}
}

// sse writes one Server-Sent Events stream.
type sse struct {
	rw http.ResponseWriter
	rc *http.ResponseController
}

// sseWriteTimeout bounds every write: a browser that stops reading is
// dropped.
const sseWriteTimeout = 10 * time.Second

// startSSE sends the stream's headers. retry tells the browser how soon to
// reconnect after the stream ends.
func startSSE(rw http.ResponseWriter) *sse {
	h := rw.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	rw.WriteHeader(http.StatusOK)
	s := &sse{rw: rw, rc: http.NewResponseController(rw)}
	_ = s.write("retry: 1000\n\n")
	return s
}

func (s *sse) write(text string) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := s.rw.Write([]byte(text)); err != nil {
		return err
	}
	return s.rc.Flush()
}

// send writes event name with v as its JSON data.
func (s *sse) send(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(fmt.Sprintf("event: %s\ndata: %s\n\n", name, b))
}

// ping keeps proxies from closing an idle stream and finds dead peers.
func (s *sse) ping() error { return s.write(": ping\n\n") }

// pingEvery is how often an idle stream is pinged.
const pingEvery = 15 * time.Second
