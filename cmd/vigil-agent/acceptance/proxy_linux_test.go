//go:build linux

package acceptance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// recorder is a TCP proxy between the agent and the coordinator that keeps
// every byte in both directions, stamped on arrival.
type recorder struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []*tcpRecord
	wg    sync.WaitGroup
}

// chunk is bytes read in one go, and when.
type chunk struct {
	at time.Time
	b  []byte
}

// tcpRecord is one proxied TCP connection.
type tcpRecord struct {
	mu     sync.Mutex
	opened time.Time
	up     []chunk // agent → coordinator
	down   []chunk // coordinator → agent
}

func startRecorder(t testing.TB) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recorder{ln: ln}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// via points the recorder at the coordinator and returns its own address:
// use as rigOptions.via.
func (p *recorder) via(target string) string {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
	return p.ln.Addr().String()
}

func (p *recorder) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		rec := &tcpRecord{opened: time.Now()}
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
func pump(dst, src net.Conn, rec *tcpRecord, upward bool) {
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

// records returns the connections so far.
func (p *recorder) records() []*tcpRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*tcpRecord(nil), p.conns...)
}

// stream is one direction's bytes with the arrival time of each byte
// range.
type stream struct {
	b    []byte
	ends []int       // end offset of each chunk
	ats  []time.Time // its arrival
}

func (r *tcpRecord) stream(upward bool) stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	chunks := r.down
	if upward {
		chunks = r.up
	}
	var s stream
	for _, c := range chunks {
		s.b = append(s.b, c.b...)
		s.ends = append(s.ends, len(s.b))
		s.ats = append(s.ats, c.at)
	}
	return s
}

// at is when the byte at offset off arrived.
func (s stream) at(off int) time.Time {
	for i, e := range s.ends {
		if off < e {
			return s.ats[i]
		}
	}
	return time.Time{}
}

// httpHead splits an HTTP message head (up to the blank line) from the
// rest.
func (s stream) httpHead() (head string, rest int, ok bool) {
	i := bytes.Index(s.b, []byte("\r\n\r\n"))
	if i < 0 {
		return "", 0, false
	}
	return string(s.b[:i+4]), i + 4, true
}

// wsFrame is one WebSocket frame (RFC 6455 §5.2), payload unmasked.
type wsFrame struct {
	fin     bool
	rsv     byte // RSV1-3: non-zero means an extension (e.g. compression)
	op      byte // 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong
	masked  bool
	payload []byte
	at      time.Time // when its last byte arrived
	size    int       // bytes on the wire, header included
}

var errTruncated = errors.New("truncated frame")

// frames parses the frames in s from offset off. A truncated last frame
// (the connection was cut) is reported as errTruncated with the frames
// before it.
func (s stream) frames(off int) ([]wsFrame, error) {
	var out []wsFrame
	b := s.b
	for off < len(b) {
		start := off
		if len(b)-off < 2 {
			return out, errTruncated
		}
		f := wsFrame{fin: b[off]&0x80 != 0, rsv: b[off] & 0x70 >> 4, op: b[off] & 0x0f, masked: b[off+1]&0x80 != 0}
		n := uint64(b[off+1] & 0x7f)
		off += 2
		switch n {
		case 126:
			if len(b)-off < 2 {
				return out, errTruncated
			}
			n = uint64(binary.BigEndian.Uint16(b[off:]))
			off += 2
		case 127:
			if len(b)-off < 8 {
				return out, errTruncated
			}
			n = binary.BigEndian.Uint64(b[off:])
			off += 8
		}
		var key []byte
		if f.masked {
			if len(b)-off < 4 {
				return out, errTruncated
			}
			key = b[off : off+4]
			off += 4
		}
		if uint64(len(b)-off) < n {
			return out, errTruncated
		}
		f.payload = append([]byte(nil), b[off:off+int(n)]...)
		for i := range f.payload {
			if key != nil {
				f.payload[i] ^= key[i%4]
			}
		}
		off += int(n)
		f.at, f.size = s.at(off-1), off-start
		out = append(out, f)
	}
	return out, nil
}

func (f wsFrame) String() string {
	return fmt.Sprintf("op=%d fin=%v rsv=%d masked=%v %dB %q", f.op, f.fin, f.rsv, f.masked, len(f.payload), f.payload)
}
