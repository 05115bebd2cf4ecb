//go:build linux

// Command loadgen runs simulated agents against a coordinator and reports
// its decision latency, CPU, memory and messages per second
// (docs/performance.md). One process holds at most as many connections as
// its open-file limit, so the agents are spread over child processes of
// this command (-per-process each), which the parent starts, holds at the
// same window, and whose reports it merges.
//
//	go build -o /tmp/vigil-coordinator ./cmd/vigil-coordinator
//	go run ./internal/cmd/loadgen -coordinator-bin /tmp/vigil-coordinator -n 5000 -duration 2m
//	go run ./internal/cmd/loadgen -url http://127.0.0.1:8080 -admin-token "$TOKEN" -pid "$PID" -n 1000
//
// With -coordinator-bin it starts a fresh coordinator of its own (a temp
// data directory, SQLite unless -database-url) and stops it at the end;
// otherwise it uses the coordinators at -url (comma-separated: agents move
// among them when their connection drops). Every connection is on
// loopback, and the run ends by itself.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-cc/vigil/internal/fdlimit"
	"github.com/vigil-cc/vigil/internal/loadgen"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		if err := child(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type options struct {
	urls, admin, bin, dbURL, dataIn, jsonOut, logLevel string
	pid, n, perProcess, sources, deskWeb, convs        int
	timeout, duration, inputEvery                      time.Duration
	idle, window                                       float64
	heap                                               bool
}

func run(args []string) error {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&o.urls, "url", "", "coordinator base URLs, comma-separated (http://127.0.0.1:8080); not with -coordinator-bin")
	fs.StringVar(&o.admin, "admin-token", os.Getenv("VIGIL_ADMIN_TOKEN"), "an admin API token of the coordinator at -url (VIGIL_ADMIN_TOKEN)")
	fs.IntVar(&o.pid, "pid", 0, "the process id of the local coordinator at -url, to read its CPU and memory")
	fs.StringVar(&o.bin, "coordinator-bin", "", "start this vigil-coordinator binary fresh (temp data directory) and measure it")
	fs.StringVar(&o.dbURL, "database-url", "", "with -coordinator-bin: its --database-url (PostgreSQL); default SQLite")
	fs.StringVar(&o.dataIn, "data-in", "", "with -coordinator-bin: make its temp data directory in this directory (e.g. /dev/shm: SQLite in memory, no disk)")
	fs.IntVar(&o.n, "n", 1000, "simulated agents")
	fs.IntVar(&o.perProcess, "per-process", 4000, "agents per child process (each holds one open file per agent)")
	fs.IntVar(&o.sources, "sources", 8, "loopback source addresses the agents connect from (127.0.0.2 on)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "the inactivity timeout T to set (30s..1h; 0 leaves the settings alone)")
	fs.DurationVar(&o.duration, "duration", 90*time.Second, "the measured window, after every agent is connected")
	fs.Float64Var(&o.idle, "idle", 0.1, "share of agents that go idle: warned, logged out, log in again")
	fs.Float64Var(&o.window, "window", 0.2, "share of the others that move the Agent Desk away now and then")
	fs.DurationVar(&o.inputEvery, "input-every", 4*time.Second, "how often active agents report input (±50 %)")
	fs.IntVar(&o.deskWeb, "desk-web", 20, "agents that sign in through the Agent Desk's form (bcrypt each), the rest through the API")
	fs.IntVar(&o.convs, "conversations", 0, "conversations handed to the built-in router per minute (0: n/10; negative: none)")
	fs.BoolVar(&o.heap, "heap", true, "read the coordinator's live heap before and at the end (forces a GC through its profiler)")
	fs.StringVar(&o.jsonOut, "json", "", "also write the merged report, with every agent's counters, to this file")
	fs.StringVar(&o.logLevel, "log-level", "warn", "the load generator's log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if (o.bin == "") == (o.urls == "") {
		return errors.New("give either -url (and -admin-token) or -coordinator-bin")
	}
	if o.n < 1 || o.perProcess < 1 {
		return errors.New("-n and -per-process must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	urls := strings.Split(o.urls, ",")
	if o.bin != "" {
		c, err := startCoordinator(o.bin, o.dbURL, o.dataIn, log)
		if err != nil {
			return err
		}
		defer c.stop()
		urls, o.admin, o.pid = []string{"http://" + c.addr}, c.admin, c.cmd.Process.Pid
	}
	base := strings.TrimRight(urls[0], "/")

	// The baseline: the coordinator before any agent.
	var before loadgen.Proc
	var heapBefore loadgen.Heap
	if o.pid != 0 {
		var err error
		if before, err = loadgen.ReadProc(o.pid); err != nil {
			return err
		}
	}
	if o.heap {
		var err error
		if heapBefore, err = loadgen.LiveHeap(ctx, nil, base, o.admin); err != nil {
			return err
		}
	}
	// T once, here: a settings change re-plans every clock and pushes the
	// policy to every connected agent.
	if o.timeout != 0 {
		lg, err := loadgen.New(loadgen.Config{URLs: urls, AdminToken: o.admin, Agents: 1, Timeout: o.timeout, Duration: time.Second})
		if err != nil {
			return err
		}
		if err := lg.SetTimeout(ctx); err != nil {
			return err
		}
	}

	cpm := o.convs
	if cpm == 0 {
		cpm = max(o.n/10, 1)
	}
	procs := (o.n + o.perProcess - 1) / o.perProcess
	var cfgs []loadgen.Config
	for p := range procs {
		first := p * o.perProcess
		n := min(o.perProcess, o.n-first)
		web := min(max(o.deskWeb-first, 0), n)
		c := loadgen.Config{
			URLs: urls, AdminToken: o.admin, Agents: n, First: first,
			IdleShare: o.idle, WindowShare: o.window, InputEvery: o.inputEvery, DeskWeb: web,
			ConversationsPerMinute: share(cpm, n, o.n),
			Sources:                loadgen.Loopbacks(o.sources), Duration: o.duration,
		}
		cfgs = append(cfgs, c)
	}
	fmt.Fprintf(os.Stderr, "loadgen: %d agents in %d processes against %s; load average %s\n", o.n, procs, strings.Join(urls, ","), loadAvg())
	start := time.Now()
	rep, err := runChildren(ctx, cfgs, func() (loadgen.Proc, error) {
		if o.pid == 0 {
			return loadgen.Proc{}, nil
		}
		return loadgen.ReadProc(o.pid)
	}, func(r *loadgen.Report) error {
		// At the end of the window, every agent still connected.
		if o.pid != 0 {
			p, err := loadgen.ReadProc(o.pid)
			if err != nil {
				return err
			}
			r.Coordinator = &loadgen.CoordinatorStats{PID: o.pid, RSS: p.RSS}
		}
		if o.heap {
			// A coordinator under load may fail one request (its token
			// check reads the store); a report without the heap is better
			// than none.
			var h loadgen.Heap
			var err error
			for try := 0; try < 3; try++ {
				if h, err = loadgen.LiveHeap(ctx, nil, base, o.admin); err == nil {
					break
				}
				time.Sleep(2 * time.Second)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "loadgen: the live heap at the end:", err)
			}
			if r.Coordinator == nil {
				r.Coordinator = &loadgen.CoordinatorStats{}
			}
			r.Coordinator.Heap = h
		}
		if d, err := loadgen.DispatchLateness(ctx, nil, base); err == nil {
			if r.Coordinator == nil {
				r.Coordinator = &loadgen.CoordinatorStats{}
			}
			r.Coordinator.Dispatch = &d
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("loadgen: %d agents, %d processes, T %s, window %s, %s in all; load average at the end %s\n",
		o.n, procs, o.timeout, o.duration, time.Since(start).Round(time.Second), loadAvg())
	rep.Print(os.Stdout)
	if c := rep.Coordinator; c != nil {
		n := float64(rep.Agents)
		if o.pid != 0 && before.RSS > 0 {
			fmt.Printf("coordinator RSS %.1f MB before the agents → %.1f MB: %.1f KB per agent\n",
				float64(before.RSS)/1e6, float64(c.RSS)/1e6, float64(c.RSS-before.RSS)/1024/n)
		}
		if o.heap && c.Heap.Alloc > 0 {
			fmt.Printf("coordinator live heap %.1f MB before → %.1f MB, stacks %.1f → %.1f MB: %.1f KB heap + %.1f KB stack per agent\n",
				float64(heapBefore.Alloc)/1e6, float64(c.Heap.Alloc)/1e6, float64(heapBefore.Stacks)/1e6, float64(c.Heap.Stacks)/1e6,
				float64(c.Heap.Alloc-heapBefore.Alloc)/1024/n, float64(c.Heap.Stacks-heapBefore.Stacks)/1024/n)
		}
	}
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// share is process n's part of a rate given to total agents.
func share(rate, n, total int) int {
	if rate < 0 {
		return -1
	}
	return max(rate*n/total, 1)
}

// The parent and its children speak in lines: the parent writes the
// child's Config as JSON, the child answers "connected" once all its
// agents are, the parent says "start" (the window begins), the child says
// "ended" when its window is over, the parent says "stop" once it has read
// the coordinator with every agent connected, and the child answers with
// its report as JSON.
const (
	lineConnected = "connected"
	lineStart     = "start"
	lineEnded     = "ended"
	lineStop      = "stop"
)

type childProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func (c *childProc) expect(want string) (string, error) {
	for c.out.Scan() {
		line := c.out.Text()
		if strings.HasPrefix(line, want) {
			return strings.TrimPrefix(line, want), nil
		}
	}
	if err := c.out.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("child %d ended before saying %q", c.cmd.Process.Pid, want)
}

func (c *childProc) say(line string) error {
	_, err := io.WriteString(c.in, line+"\n")
	return err
}

// runChildren runs one child per config, all in one window; procAt reads
// the coordinator at the window's start and end for its CPU, atEnd reads
// its memory with every agent still connected.
func runChildren(ctx context.Context, cfgs []loadgen.Config, procAt func() (loadgen.Proc, error), atEnd func(*loadgen.Report) error) (loadgen.Report, error) {
	self, err := os.Executable()
	if err != nil {
		return loadgen.Report{}, err
	}
	var kids []*childProc
	defer func() {
		for _, k := range kids {
			k.in.Close()
			k.cmd.Process.Kill()
			k.cmd.Wait()
		}
	}()
	for _, c := range cfgs {
		cmd := exec.Command(self, "-child")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return loadgen.Report{}, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return loadgen.Report{}, err
		}
		if err := cmd.Start(); err != nil {
			return loadgen.Report{}, fmt.Errorf("starting a child: %w", err)
		}
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<30)
		k := &childProc{cmd: cmd, in: in, out: sc}
		kids = append(kids, k)
		b, _ := json.Marshal(childConfig(c))
		if err := k.say(string(b)); err != nil {
			return loadgen.Report{}, err
		}
	}
	each := func(f func(k *childProc) error) error {
		errs := make([]error, len(kids))
		var wg sync.WaitGroup
		for i, k := range kids {
			wg.Go(func() { errs[i] = f(k) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if err := each(func(k *childProc) error { _, err := k.expect(lineConnected); return err }); err != nil {
		return loadgen.Report{}, err
	}
	if ctx.Err() != nil {
		return loadgen.Report{}, ctx.Err()
	}
	p0, err := procAt()
	if err != nil {
		return loadgen.Report{}, err
	}
	if err := each(func(k *childProc) error { return k.say(lineStart) }); err != nil {
		return loadgen.Report{}, err
	}
	if err := each(func(k *childProc) error { _, err := k.expect(lineEnded); return err }); err != nil {
		return loadgen.Report{}, err
	}
	p1, err := procAt()
	if err != nil {
		return loadgen.Report{}, err
	}
	var coord loadgen.Report
	if err := atEnd(&coord); err != nil {
		return loadgen.Report{}, err
	}
	reps := make([]loadgen.Report, len(kids))
	if err := each(func(k *childProc) error {
		if err := k.say(lineStop); err != nil {
			return err
		}
		raw, err := k.expect("report ")
		if err != nil {
			return err
		}
		return json.Unmarshal([]byte(raw), &reps[slicesIndex(kids, k)])
	}); err != nil {
		return loadgen.Report{}, err
	}
	rep := loadgen.Merge(reps...)
	rep.Coordinator = coord.Coordinator
	if rep.Coordinator != nil && p1.Ticks > 0 {
		rep.Coordinator.CPUPercent = loadgen.CPUPercent(p0, p1)
	}
	return rep, nil
}

func slicesIndex(kids []*childProc, k *childProc) int {
	for i, x := range kids {
		if x == k {
			return i
		}
	}
	return -1
}

// childConfig is a Config as it crosses to a child (its functions stay).
type childCfg struct {
	URLs                   []string
	AdminToken             string
	Agents, First, DeskWeb int
	IdleShare, WindowShare float64
	InputEvery, Duration   time.Duration
	ConversationsPerMinute int
	Sources                []string
}

func childConfig(c loadgen.Config) childCfg {
	return childCfg{URLs: c.URLs, AdminToken: c.AdminToken, Agents: c.Agents, First: c.First, DeskWeb: c.DeskWeb,
		IdleShare: c.IdleShare, WindowShare: c.WindowShare, InputEvery: c.InputEvery, Duration: c.Duration,
		ConversationsPerMinute: c.ConversationsPerMinute, Sources: c.Sources}
}

// child runs one process's agents, told what by its parent over stdin.
func child(stdin io.Reader, stdout io.Writer) error {
	if _, _, err := fdlimit.Raise(); err != nil {
		return err
	}
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	line := func() (string, error) {
		if !in.Scan() {
			if err := in.Err(); err != nil {
				return "", err
			}
			return "", errors.New("the parent went away")
		}
		return in.Text(), nil
	}
	raw, err := line()
	if err != nil {
		return err
	}
	var c childCfg
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return fmt.Errorf("reading the configuration: %w", err)
	}
	var mu sync.Mutex
	say := func(s string) error {
		mu.Lock()
		defer mu.Unlock()
		_, err := fmt.Fprintln(stdout, s)
		return err
	}
	waitFor := func(want string) error {
		got, err := line()
		if err == nil && got != want {
			err = fmt.Errorf("expected %q from the parent, got %q", want, got)
		}
		return err
	}
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		URLs: c.URLs, AdminToken: c.AdminToken, Agents: c.Agents, First: c.First, DeskWeb: c.DeskWeb,
		IdleShare: c.IdleShare, WindowShare: c.WindowShare, InputEvery: c.InputEvery, Duration: c.Duration,
		ConversationsPerMinute: c.ConversationsPerMinute, Sources: c.Sources,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Hold: func() error {
			if err := say(lineConnected); err != nil {
				return err
			}
			return waitFor(lineStart)
		},
		AtEnd: func() error {
			if err := say(lineEnded); err != nil {
				return err
			}
			return waitFor(lineStop)
		},
	})
	if err != nil {
		return err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return say("report " + string(b))
}

// coordinator is one this command started.
type coordinator struct {
	cmd    *exec.Cmd
	exited chan error
	dir    string
	addr   string
	admin  string
}

// startCoordinator starts bin fresh on a free loopback port with its data
// in a new temp directory, and waits until it listens.
func startCoordinator(bin, dbURL, in string, log *slog.Logger) (*coordinator, error) {
	dir, err := os.MkdirTemp(in, "loadgen-coordinator")
	if err != nil {
		return nil, err
	}
	c := &coordinator{dir: dir, admin: "vgl_api_loadgen_" + fmt.Sprint(time.Now().UnixNano())}
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--admin-token", c.admin, "--log-level", "info"}
	if dbURL != "" {
		args = append(args, "--database-url", dbURL)
	}
	c.cmd = exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(dir, "coordinator.log"))
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	c.cmd.Stdout, c.cmd.Stderr = logf, io.MultiWriter(logf, pw)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l := sc.Text()
			if strings.Contains(l, "open-file limit") {
				fmt.Fprintln(os.Stderr, "coordinator:", l)
			}
			if strings.Contains(l, `msg="coordinator listening"`) {
				if _, a, ok := strings.Cut(l, " addr="); ok {
					addr <- strings.Fields(a)[0]
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait(); pw.Close() }()
	select {
	case c.addr = <-addr:
	case err := <-exited:
		b, _ := os.ReadFile(filepath.Join(dir, "coordinator.log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("the coordinator exited (%v): %s", err, b)
	case <-time.After(60 * time.Second):
		c.cmd.Process.Kill()
		<-exited
		os.RemoveAll(dir)
		return nil, errors.New("the coordinator did not listen within 60 s")
	}
	c.exited = exited
	log.Info("coordinator started", "addr", c.addr, "pid", c.cmd.Process.Pid, "log", filepath.Join(dir, "coordinator.log"))
	return c, nil
}

func (c *coordinator) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	os.RemoveAll(c.dir)
}

// loadAvg is the machine's load average over 1, 5 and 15 minutes.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
