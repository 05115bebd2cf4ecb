//go:build cgo

package audio

// The Linux parts of capture.go: the waker is an eventfd, which the
// callback writes and the reader reads through Go's netpoller; and, before
// PortAudio initialises, ALSA and JACK are quietened and ALSA's
// configuration is pruned of play-only PCMs.

/*
#cgo pkg-config: alsa jack
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <alsa/asoundlib.h>
#include <jack/jack.h>

void vigilSignal(intptr_t fd) {
	uint64_t one = 1;
	if (write((int)fd, &one, sizeof one) < 0) {
		// EAGAIN: the counter is full, the reader is woken anyway.
	}
}

// PortAudio probes every ALSA PCM and JACK when it initialises; on a
// machine without a sound card (or without a JACK server) both libraries
// print dozens of lines to stderr. Open reports failures itself, so they
// are silenced unless VIGIL_AUDIO_DEBUG is set.
static void vigilAlsaSilent(const char *file, int line, const char *function, int err, const char *fmt, ...) {}
static void vigilJackSilent(const char *msg) {}
static void vigilQuietAudioLibs(void) {
	snd_lib_error_set_handler(vigilAlsaSilent);
	jack_set_error_function(vigilJackSilent);
	jack_set_info_function(vigilJackSilent);
}

// vigilPruneAlsaOutputOnly loads ALSA's global configuration (the tree
// PortAudio's Pa_Initialize walks) and removes the top-level PCM
// definitions whose plugin type can only play. PortAudio opens every PCM
// the configuration defines to probe it, and opening one loads its plugin
// and the plugin's libraries for the life of the process: the a52 encoder
// alone brings libavcodec and its codecs, about 14 MB resident. None of
// them can be a microphone. The files on disk are untouched; ALSA rereads
// them when they change or after PortAudio terminates. It returns the
// number of definitions removed, or a negative ALSA error.
static int vigilPruneAlsaOutputOnly(void) {
	static const char *playOnly[] = {"a52", "upmix", "vdownmix", NULL};
	snd_config_t *pcms, *type;
	snd_config_iterator_t i, next;
	const char *t;
	int err, n = 0;
	if ((err = snd_config_update()) < 0)
		return err;
	if (snd_config == NULL || snd_config_search(snd_config, "pcm", &pcms) < 0)
		return 0;
	snd_config_for_each(i, next, pcms) {
		snd_config_t *def = snd_config_iterator_entry(i);
		if (snd_config_search(def, "type", &type) < 0 || snd_config_get_string(type, &t) < 0)
			continue;
		for (const char **p = playOnly; *p; p++) {
			if (strcmp(t, *p) == 0) {
				if (snd_config_delete(def) >= 0)
					n++;
				break;
			}
		}
	}
	return n;
}
*/
import "C"

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var quietOnce sync.Once

// prepare quietens ALSA and JACK (unless VIGIL_AUDIO_DEBUG is set) and
// prunes ALSA's configuration before PortAudio initialises. Open calls it
// holding paMu.
func prepare() {
	if os.Getenv("VIGIL_AUDIO_DEBUG") == "" {
		quietOnce.Do(func() { C.vigilQuietAudioLibs() })
	}
	C.vigilPruneAlsaOutputOnly()
}

// waker is an eventfd: the callback writes it (vigilSignal), the reader
// waits for it to be readable in Go's netpoller, with a read deadline.
type waker struct {
	fd int      // for the callback (f.Fd would make f blocking)
	f  *os.File // the same eventfd, non-blocking, in the netpoller
}

func newWaker() (*waker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &waker{fd: fd, f: os.NewFile(uintptr(fd), "microphone wake-up")}, nil
}

// handle is what vigilSignal is given.
func (w *waker) handle() C.intptr_t { return C.intptr_t(w.fd) }

// interrupt wakes a waiting wait at once. Expiring its deadline wakes it
// inside the Go runtime, without a system call.
func (w *waker) interrupt() { _ = w.f.SetReadDeadline(time.Now()) }

// wait sleeps until the eventfd is written, interrupt, close or timeout;
// it returns nil then, and at once if ctx has ended (the caller checks).
func (w *waker) wait(ctx context.Context, timeout time.Duration) error {
	if err := w.f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if ctx.Err() != nil { // ended before the deadline was set
		return nil
	}
	var b [8]byte
	_, err := w.f.Read(b[:])
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// close closes the eventfd, which wakes a waiting wait; the callback must
// have stopped.
func (w *waker) close() { _ = w.f.Close() }
