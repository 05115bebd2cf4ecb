//go:build cgo

package audio

// The Windows part of capture.go: the waker is an auto-reset event object
// (SetEvent is safe on PortAudio's audio thread), waited on with
// WaitForSingleObject. PortAudio comes from scripts/portaudio-windows.sh
// (static, MME), found through pkg-config.

/*
#include <stdint.h>
#include <windows.h>

void vigilSignal(intptr_t event) {
	SetEvent((HANDLE)event);
}
*/
import "C"

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/sys/windows"
)

// prepare does nothing on Windows.
func prepare() {}

// waker is an auto-reset event: the callback sets it (vigilSignal), the
// reader waits on it. The wait blocks an OS thread (the runtime hands its P
// on), which is what a syscall costs anyway.
type waker struct {
	event windows.Handle

	mu     sync.Mutex // guards closed
	closed bool
	// waitMu is held while a reader waits on event, so close closes the
	// handle only once nobody waits on it.
	waitMu sync.Mutex
}

func newWaker() (*waker, error) {
	event, err := windows.CreateEvent(nil, 0, 0, nil)
	if err != nil {
		return nil, err
	}
	return &waker{event: event}, nil
}

// handle is what vigilSignal is given.
func (w *waker) handle() C.intptr_t { return C.intptr_t(w.event) }

// interrupt wakes a waiting wait at once, or the next one.
func (w *waker) interrupt() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		_ = windows.SetEvent(w.event)
	}
}

// wait sleeps until the event is set (vigilSignal, interrupt, close) or
// timeout; it returns nil then, and at once if ctx has ended (the caller
// checks) or the waker is closed.
func (w *waker) wait(ctx context.Context, timeout time.Duration) error {
	w.waitMu.Lock()
	defer w.waitMu.Unlock()
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed || ctx.Err() != nil {
		return nil
	}
	ms := uint32(min(timeout.Milliseconds()+1, math.MaxInt32))
	_, err := windows.WaitForSingleObject(w.event, ms)
	return err
}

// close wakes a waiting wait, then closes the event once nobody waits on
// it; the callback must have stopped.
func (w *waker) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	_ = windows.SetEvent(w.event)
	w.mu.Unlock()
	w.waitMu.Lock()
	_ = windows.CloseHandle(w.event)
	w.waitMu.Unlock()
}
