//go:build linux

// Command connbench measures the memory the coordinator spends per connected
// agent, beside a bare coder/websocket server holding the same connections in
// the same run (docs/performance.md).
//
//	go build -o /tmp/vigil-coordinator ./cmd/vigil-coordinator
//	go run ./internal/cmd/connbench -coordinator /tmp/vigil-coordinator -n 10000
//
// Each server runs as its own process; the memory is the growth of its
// resident set (VmRSS) from before the connections to after them, divided by
// their number. Every connection is on loopback and the run ends by itself.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/internal/fdlimit"
	"github.com/vigil-cc/vigil/protocol"
)

func main() {
	bare := flag.Bool("serve-bare", false, "be the bare server (internal)")
	coordinatorBin := flag.String("coordinator", "", "path to a built vigil-coordinator")
	n := flag.Int("n", 10000, "connections")
	flag.Parse()
	raiseFileLimit()
	if *bare {
		serveBare()
		return
	}
	if *coordinatorBin == "" {
		fmt.Fprintln(os.Stderr, "connbench: -coordinator is required")
		os.Exit(2)
	}
	if err := run(*coordinatorBin, *n); err != nil {
		fmt.Fprintln(os.Stderr, "connbench:", err)
		os.Exit(1)
	}
}

func run(coordinatorBin string, n int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bare, err := measure("bare", exec.Command(self, "-serve-bare"), n, bareLive, func(ctx context.Context, addr string, i int) (*websocket.Conn, error) {
		ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
		return ws, err
	})
	if err != nil {
		return fmt.Errorf("bare server: %w", err)
	}

	dir, err := os.MkdirTemp("", "connbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const admin = "vgl_api_connbench-admin-token-32-characters"
	coord := func() *exec.Cmd {
		return exec.Command(coordinatorBin, "--listen", "127.0.0.1:0", "--data-dir", dir, "--admin-token", admin, "--log-level", "info")
	}
	// Enroll the devices and log the users in with one process, then measure
	// a fresh one that restored them: the heap the preparation churned
	// through would otherwise hide what the connections cost.
	prep := coord()
	addr, stop, err := start(prep)
	if err != nil {
		return err
	}
	tokens, err := prepareCoordinator(addr, admin, n)
	prep.Process.Signal(syscall.SIGTERM)
	stop()
	if err != nil {
		return err
	}
	vigil, err := measure("vigil-coordinator", coord(), n, coordinatorLive(admin), func(ctx context.Context, addr string, i int) (*websocket.Conn, error) {
		ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/agent/v1/ws", &websocket.DialOptions{
			HTTPHeader:   http.Header{"Authorization": {"Bearer " + tokens[i]}},
			Subprotocols: []string{protocol.Subprotocol},
		})
		if err != nil {
			return nil, err
		}
		user := fmt.Sprintf("agent%05d", i)
		for _, m := range []protocol.Message{
			protocol.Hello{AgentVersion: "connbench", OS: "linux", Host: "ws-" + user},
			protocol.SessionOpen{Session: "1", OSUser: user},
			protocol.Reading{Session: "1", IdleMS: 1000, AgentDeskForeground: true, MicAvailable: true},
		} {
			b, _ := protocol.Encode(m)
			if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
				return nil, err
			}
		}
		return ws, nil
	})
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	fmt.Printf("\n%d connections, KB per connection   resident (RSS)   live (heap+stacks after GC)\n", n)
	fmt.Printf("bare coder/websocket server          %8.1f   %8.1f\n", bare.rss, bare.live)
	fmt.Printf("vigil-coordinator                    %8.1f   %8.1f\n", vigil.rss, vigil.live)
	fmt.Printf("ratio                                %8.2f×  %8.2f×\n", vigil.rss/bare.rss, vigil.live/bare.live)
	return nil
}

// start runs a server and returns its address; stop waits for it to end
// (killing it if it has not).
func start(cmd *exec.Cmd) (addr string, stop func(), err error) {
	out, w, err := os.Pipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return "", nil, err
	}
	stop = func() {
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	addr, err = listenAddr(out)
	if err != nil {
		cmd.Process.Kill()
		stop()
		return "", nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	return addr, stop, nil
}

// perConn is a server's memory growth per connection, in KB.
type perConn struct{ rss, live float64 }

// measure starts the server, opens n connections with dial, and returns the
// server's memory growth per connection: resident, and live after a GC as
// live(addr) reports it in bytes.
func measure(name string, cmd *exec.Cmd, n int, live func(addr string) (int64, error),
	dial func(ctx context.Context, addr string, i int) (*websocket.Conn, error)) (perConn, error) {
	var none perConn
	addr, stop, err := start(cmd)
	if err != nil {
		return none, err
	}
	defer func() { cmd.Process.Kill(); stop() }()
	settle()
	before, err := rssKB(cmd.Process.Pid)
	if err != nil {
		return none, err
	}
	liveBefore, err := live(addr)
	if err != nil {
		return none, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conns := make([]*websocket.Conn, n)
	if err := parallel(n, func(i int) error {
		ws, err := dial(ctx, addr, i)
		if err == nil {
			go func() { // answers pings; drops what the server sends
				for {
					if _, _, err := ws.Read(context.Background()); err != nil {
						return
					}
				}
			}()
			conns[i] = ws
		}
		return err
	}); err != nil {
		return none, err
	}
	settle()
	after, err := rssKB(cmd.Process.Pid)
	if err != nil {
		return none, err
	}
	liveAfter, err := live(addr)
	if err != nil {
		return none, err
	}
	fmt.Printf("%s: RSS %d → %d KB, live %d → %d KB with %d connections\n", name, before, after, liveBefore>>10, liveAfter>>10, n)
	for _, c := range conns {
		c.CloseNow()
	}
	return perConn{rss: float64(after-before) / float64(n), live: float64(liveAfter-liveBefore) / 1024 / float64(n)}, nil
}

// bareLive asks the bare server for its heap and stacks in use after a GC.
func bareLive(addr string) (int64, error) {
	resp, err := http.Get("http://" + addr + "/live")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	_, err = fmt.Fscan(resp.Body, &n)
	return n, err
}

// coordinatorLive collects garbage through the admin-only profiler, then
// reads heap and stacks in use from the metrics.
func coordinatorLive(admin string) func(addr string) (int64, error) {
	return func(addr string) (int64, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/debug/pprof/heap?gc=1", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("forcing a GC: %s", resp.Status)
		}
		resp, err = http.Get("http://" + addr + "/metrics")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var total float64
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && (f[0] == "go_memstats_heap_inuse_bytes" || f[0] == "go_memstats_stack_inuse_bytes") {
				v, _ := strconv.ParseFloat(f[1], 64)
				total += v
			}
		}
		return int64(total), sc.Err()
	}
}

// prepareCoordinator enrolls n devices and logs n users in to the Agent
// Desk, so each connection below speaks for a real user.
func prepareCoordinator(addr, admin string, n int) ([]string, error) {
	var e struct{ Token string }
	if err := call(addr, admin, "POST", "/api/v1/enrollment-tokens", map[string]any{"max_uses": n, "auto_approve": true}, &e); err != nil {
		return nil, err
	}
	tokens := make([]string, n)
	err := parallel(n, func(i int) error {
		var d struct {
			DeviceToken string `json:"device_token"`
		}
		user := fmt.Sprintf("agent%05d", i)
		if err := call(addr, "", "POST", "/api/v1/enroll", map[string]any{"enrollment_token": e.Token, "host": "ws-" + user, "os": "linux"}, &d); err != nil {
			return err
		}
		tokens[i] = d.DeviceToken
		return call(addr, admin, "POST", "/api/v1/desk/login", map[string]string{"user": user}, nil)
	})
	return tokens, err
}

func call(addr, token, method, path string, body, out any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// parallel runs fn for 0..n-1 on a few workers, stopping at the first error.
func parallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					first = cmpErr(first, fmt.Errorf("connection %d: %w", i, err))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// settle waits for the connections' work to finish; the servers' own GC
// returns what it can.
func settle() { time.Sleep(3 * time.Second) }

func rssKB(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, errors.New("no VmRSS")
}

// listenAddr reads the server's output until it names its address.
func listenAddr(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "addr="); i >= 0 {
			go io.Copy(io.Discard, r)
			return strings.Fields(line[i+len("addr="):])[0], nil
		}
	}
	return "", errors.New("server exited before listening")
}

// serveBare is the reference: coder/websocket's own minimal server, one
// goroutine per connection reading until the peer goes. /live reports its
// heap and stacks in use after a GC.
func serveBare() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening addr=%s\n", ln.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("/live", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintln(w, m.HeapInuse+m.StackInuse)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ws.SetReadLimit(protocol.MaxFrameBytes)
		for {
			if _, _, err := ws.Read(r.Context()); err != nil {
				return
			}
		}
	})
	http.Serve(ln, mux)
}

func raiseFileLimit() {
	fdlimit.Raise()
	runtime.GOMAXPROCS(runtime.NumCPU())
}
