//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vigil-cc/vigil/internal/loadgen"
)

// TestMain lets the test binary be the command's child processes too: the
// parent forks os.Executable() with -child.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		if err := child(os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString("loadgen child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCommandSpreadsAgentsOverProcessesAndAddresses runs the command as a
// benchmark does, small: a fresh coordinator binary of its own, 60 agents
// in 3 child processes from 4 loopback addresses; the merged report counts
// every agent once, each connected from its address, and the coordinator's
// memory was read.
func TestCommandSpreadsAgentsOverProcessesAndAddresses(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the coordinator with")
	}
	bin := filepath.Join(t.TempDir(), "vigil-coordinator")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/vigil-cc/vigil/cmd/vigil-coordinator")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the coordinator: %v\n%s", err, out)
	}
	out := filepath.Join(t.TempDir(), "report.json")
	if err := run([]string{"-coordinator-bin", bin, "-n", "60", "-per-process", "20", "-sources", "4",
		"-duration", "3s", "-desk-web", "2", "-json", out}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadgen.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Agents != 60 || rep.Connected != 60 || rep.ConnectedEnd != 60 || len(rep.States) != 60 || rep.ErrorCount != 0 {
		t.Fatalf("agents %d, connected %d then %d, %d states, errors %q; want 60 connected throughout, no error",
			rep.Agents, rep.Connected, rep.ConnectedEnd, len(rep.States), rep.Errors)
	}
	seen, sources := map[int]bool{}, map[string]int{}
	for _, s := range rep.States {
		if seen[s.Number] || s.Connects != 1 || s.LastURL == "" {
			t.Errorf("agent %d: seen twice, or %d connections to %q; want one", s.Number, s.Connects, s.LastURL)
		}
		seen[s.Number] = true
		sources[s.Source]++
	}
	if len(sources) != 4 || sources["127.0.0.2"] != 15 || sources["127.0.0.5"] != 15 {
		t.Errorf("connections by source address: %v; want 15 from each of 127.0.0.2..5", sources)
	}
	if rep.MessagesPerSecond <= 0 || rep.Coordinator == nil || rep.Coordinator.RSS <= 0 || rep.Coordinator.Heap.Alloc <= 0 {
		t.Errorf("messages/s %.0f, coordinator %+v; want both measured", rep.MessagesPerSecond, rep.Coordinator)
	}
}
