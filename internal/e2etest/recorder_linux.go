//go:build linux

package e2etest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Recorder is a TCP proxy between the agent and the coordinator that keeps
// every byte in both directions, stamped on arrival.
type Recorder struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  []*TCPRecord
	refuse time.Time // connections before this are closed at once
	wg     sync.WaitGroup
}

// chunk is bytes read in one go, and when.
type chunk struct {
	at time.Time
	b  []byte
}

// TCPRecord is one proxied TCP connection.
type TCPRecord struct {
	mu     sync.Mutex
	opened time.Time
	up     []chunk // agent → coordinator
	down   []chunk // coordinator → agent
}

// StartRecorder starts a Recorder on loopback; cleanup closes it.
func StartRecorder(t testing.TB) *Recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Recorder{ln: ln}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// Via points the Recorder at the coordinator and returns its own address:
// use as RigOptions.Via.
func (p *Recorder) Via(target string) string {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
	return p.ln.Addr().String()
}

// RefuseUntil closes every connection accepted before t at once, as a
// network that does not let the agent through yet would.
func (p *Recorder) RefuseUntil(t time.Time) {
	p.mu.Lock()
	p.refuse = t
	p.mu.Unlock()
}

func (p *Recorder) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if time.Now().Before(p.refuse) {
			p.mu.Unlock()
			c.Close()
			continue
		}
		target := p.target
		rec := &TCPRecord{opened: time.Now()}
		p.conns = append(p.conns, rec)
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			defer c.Close()
			up, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer up.Close()
			var wg sync.WaitGroup
			wg.Go(func() { pump(up, c, rec, true) })
			wg.Go(func() { pump(c, up, rec, false) })
			wg.Wait()
		}()
	}
}

// pump copies src to dst, recording; when src ends it closes dst's write
// side (or dst).
func pump(dst, src net.Conn, rec *TCPRecord, upward bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			ch := chunk{at: time.Now(), b: append([]byte(nil), buf[:n]...)}
			rec.mu.Lock()
			if upward {
				rec.up = append(rec.up, ch)
			} else {
				rec.down = append(rec.down, ch)
			}
			rec.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		dst.Close()
	}
	if tc, ok := src.(*net.TCPConn); ok {
		_ = tc.CloseRead()
	}
}

// Records returns the connections so far.
func (p *Recorder) Records() []*TCPRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*TCPRecord(nil), p.conns...)
}

// Stream is one direction's bytes with the arrival time of each byte
// range.
type Stream struct {
	B    []byte
	Ends []int       // end offset of each chunk
	Ats  []time.Time // its arrival
}

// Stream is one direction's bytes so far: agent → coordinator if upward.
func (r *TCPRecord) Stream(upward bool) Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	chunks := r.down
	if upward {
		chunks = r.up
	}
	var s Stream
	for _, c := range chunks {
		s.B = append(s.B, c.b...)
		s.Ends = append(s.Ends, len(s.B))
		s.Ats = append(s.Ats, c.at)
	}
	return s
}

// At is when the byte at offset off arrived.
func (s Stream) At(off int) time.Time {
	for i, e := range s.Ends {
		if off < e {
			return s.Ats[i]
		}
	}
	return time.Time{}
}

// HTTPHead splits an HTTP message head (up to the blank line) from the
// rest.
func (s Stream) HTTPHead() (head string, rest int, ok bool) {
	i := bytes.Index(s.B, []byte("\r\n\r\n"))
	if i < 0 {
		return "", 0, false
	}
	return string(s.B[:i+4]), i + 4, true
}

// WSFrame is one WebSocket frame (RFC 6455 §5.2), payload unmasked.
type WSFrame struct {
	Fin     bool
	RSV     byte // RSV1-3: non-zero means an extension (e.g. compression)
	Op      byte // 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong
	Masked  bool
	Payload []byte
	At      time.Time // when its last byte arrived
	Size    int       // bytes on the wire, header included
}

// ErrTruncated: the stream ends inside a frame.
var ErrTruncated = errors.New("truncated frame")

// Frames parses the frames in s from offset off. A truncated last frame
// (the connection was cut) is reported as ErrTruncated with the frames
// before it.
func (s Stream) Frames(off int) ([]WSFrame, error) {
	var out []WSFrame
	b := s.B
	for off < len(b) {
		start := off
		if len(b)-off < 2 {
			return out, ErrTruncated
		}
		f := WSFrame{Fin: b[off]&0x80 != 0, RSV: b[off] & 0x70 >> 4, Op: b[off] & 0x0f, Masked: b[off+1]&0x80 != 0}
		n := uint64(b[off+1] & 0x7f)
		off += 2
		switch n {
		case 126:
			if len(b)-off < 2 {
				return out, ErrTruncated
			}
			n = uint64(binary.BigEndian.Uint16(b[off:]))
			off += 2
		case 127:
			if len(b)-off < 8 {
				return out, ErrTruncated
			}
			n = binary.BigEndian.Uint64(b[off:])
			off += 8
		}
		var key []byte
		if f.Masked {
			if len(b)-off < 4 {
				return out, ErrTruncated
			}
			key = b[off : off+4]
			off += 4
		}
		if uint64(len(b)-off) < n {
			return out, ErrTruncated
		}
		f.Payload = append([]byte(nil), b[off:off+int(n)]...)
		for i := range f.Payload {
			if key != nil {
				f.Payload[i] ^= key[i%4]
			}
		}
		off += int(n)
		f.At, f.Size = s.At(off-1), off-start
		out = append(out, f)
	}
	return out, nil
}

func (f WSFrame) String() string {
	return fmt.Sprintf("op=%d fin=%v rsv=%d masked=%v %dB %q", f.Op, f.Fin, f.RSV, f.Masked, len(f.Payload), f.Payload)
}

// Upstream is what an agent sent on its WebSocket connections over a
// window: text messages and their payload, control frames' payload (pongs
// to the coordinator's pings) and every frame's bytes on the wire.
type Upstream struct {
	Messages, Text, Control, Wire int
}

// AgentUpstream counts the frames the agent sent through p on
// GET /agent/v1/ws connections whose last byte arrived within [from, to].
func (p *Recorder) AgentUpstream(from, to time.Time) Upstream {
	var u Upstream
	for _, rec := range p.Records() {
		up := rec.Stream(true)
		head, off, ok := up.HTTPHead()
		if !ok || !strings.HasPrefix(head, "GET /agent/v1/ws ") {
			continue
		}
		frames, _ := up.Frames(off)
		for _, f := range frames {
			if f.At.Before(from) || f.At.After(to) {
				continue
			}
			u.Wire += f.Size
			if f.Op == 1 {
				u.Text += len(f.Payload)
				u.Messages++
			} else {
				u.Control += len(f.Payload)
			}
		}
	}
	return u
}
