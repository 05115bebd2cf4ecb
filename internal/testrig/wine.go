//go:build linux

package testrig

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func init() {
	aptPackage["wine"] = "wine wine64"
	aptPackage["wineserver"] = "wine"
	aptPackage["x86_64-w64-mingw32-gcc"] = "gcc-mingw-w64-x86-64"
	aptPackage["xterm"] = "xterm"
}

// wineBootTimeout bounds creating the template prefix: wineboot takes 8 s
// on an idle machine and 30 s on a busy one.
const wineBootTimeout = 3 * time.Minute

// WinePrefix is a private Wine prefix (its own wineserver, registry and
// C: drive) for running Windows programs on a test display.
type WinePrefix struct {
	Dir    string // WINEPREFIX
	LogDir string // one log per program started with Start

	env []string
}

// Wine makes a fresh Wine prefix for the test, with the windows of its
// programs on x and rigEnv (e.g. a Pulse's Env, so Wine's audio driver
// reaches that daemon) in its programs' environment. The prefix is a copy
// of a template made once (wineboot, then the bcryptprimitives.dll stub Go
// programs need under Wine 8) and cached in $VIGIL_CACHE/wine (default
// ~/.cache/vigil), keyed by the Wine version and the stub. Cleanup stops
// every program of the prefix (wineserver -k).
func Wine(t testing.TB, x *X, rigEnv ...[]string) *WinePrefix {
	t.Helper()
	Require(t, "wine", "wineserver", "x86_64-w64-mingw32-gcc")
	tmpl, err := wineTemplate()
	if err != nil {
		t.Fatalf("%v", err)
	}
	dir := t.TempDir()
	w := &WinePrefix{Dir: filepath.Join(dir, "prefix"), LogDir: dir}
	if err := copyPrefix(tmpl, w.Dir); err != nil {
		t.Fatalf("%v", err)
	}
	w.env = append(wineEnv(w.Dir), x.Env()...)
	for _, e := range rigEnv {
		w.env = append(w.env, e...)
	}
	t.Cleanup(func() {
		// Ends the prefix's wineserver and every Windows process in it;
		// those started with Start are also stopped by their own cleanups.
		// It fails when no wineserver runs any more, which is fine.
		_ = w.command("wineserver", "-k").Run()
		_ = w.command("wineserver", "-w").Run()
	})
	return w
}

// wineEnv points Wine at prefix, quietly, without the Mono and Gecko
// installers (mscoree, mshtml), which would open dialogs.
func wineEnv(prefix string) []string {
	return []string{"WINEPREFIX=" + prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml="}
}

// Command is `wine program args...` in this prefix (program: a Windows
// path or a path on this machine, e.g. a built .exe).
func (w *WinePrefix) Command(program string, args ...string) *exec.Cmd {
	return w.command("wine", append([]string{program}, args...)...)
}

func (w *WinePrefix) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), w.env...)
	return cmd
}

// Start starts a long-running Windows program (e.g. "notepad") in the
// background, its output in LogDir; cleanup stops it.
func (w *WinePrefix) Start(t testing.TB, program string, args ...string) {
	t.Helper()
	p, err := startProc("wine "+program, w.Command(program, args...), filepath.Join(w.LogDir, filepath.Base(program)+".log"))
	if err != nil {
		t.Fatalf("%v", err)
	}
	stopOnCleanup(t, p, 5*time.Second)
}

var (
	wineTmplOnce sync.Once
	wineTmplDir  string
	wineTmplErr  error
)

// wineTemplate returns the cached template prefix, making it if missing.
func wineTemplate() (string, error) {
	wineTmplOnce.Do(func() { wineTmplDir, wineTmplErr = makeWineTemplate() })
	return wineTmplDir, wineTmplErr
}

func makeWineTemplate() (string, error) {
	ver, err := run(nil, "wine", "--version")
	if err != nil {
		return "", err
	}
	_, self, _, _ := runtime.Caller(0)
	stubDir := filepath.Join(filepath.Dir(self), "winestub")
	h := sha256.New()
	h.Write([]byte(ver))
	for _, f := range []string{"bcryptprimitives.c", "bcryptprimitives.def"} {
		b, err := os.ReadFile(filepath.Join(stubDir, f))
		if err != nil {
			return "", fmt.Errorf("reading the Wine bcrypt stub: %w", err)
		}
		h.Write(b)
	}
	cache := os.Getenv("VIGIL_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the cache for the Wine template: %w", err)
		}
		cache = filepath.Join(home, ".cache", "vigil")
	}
	final := filepath.Join(cache, "wine", "template-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(final, "drive_c", "windows", "system32", "bcryptprimitives.dll")); err == nil {
		return final, nil
	}
	// Made beside the final place and renamed: another test binary making
	// it at the same time loses the rename and uses the winner's.
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("creating the Wine template cache: %w", err)
	}
	work, err := os.MkdirTemp(filepath.Dir(final), "making-")
	if err != nil {
		return "", fmt.Errorf("creating the Wine template: %w", err)
	}
	defer os.RemoveAll(work)
	prefix := filepath.Join(work, "prefix")
	ctx, cancel := context.WithTimeout(context.Background(), wineBootTimeout)
	defer cancel()
	boot := exec.CommandContext(ctx, "wine", "wineboot", "-i")
	// No display: wineboot needs none, and a missing one keeps it from
	// opening windows.
	boot.Env = append(os.Environ(), wineEnv(prefix)...)
	boot.Env = append(boot.Env, "DISPLAY=")
	if out, err := boot.CombinedOutput(); err != nil {
		return "", fmt.Errorf("creating a Wine prefix (wineboot -i): %w\n%s", err, out)
	}
	// wineboot returns while its wineserver still writes the registry.
	wait := exec.CommandContext(ctx, "wineserver", "-w")
	wait.Env = boot.Env
	if out, err := wait.CombinedOutput(); err != nil {
		return "", fmt.Errorf("waiting for the Wine prefix's wineserver: %w\n%s", err, out)
	}
	dll := filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	// Go >= 1.24 programs need ProcessPrng, which Wine 8 lacks.
	if _, err := run(nil, "x86_64-w64-mingw32-gcc", "-O2", "-shared", "-o", dll,
		filepath.Join(stubDir, "bcryptprimitives.c"), filepath.Join(stubDir, "bcryptprimitives.def"), "-ladvapi32"); err != nil {
		return "", fmt.Errorf("building the bcryptprimitives.dll stub: %w", err)
	}
	if err := os.Rename(prefix, final); err != nil {
		if _, serr := os.Stat(dll); serr != nil {
			return "", fmt.Errorf("caching the Wine template: %w", err)
		}
	}
	return final, nil
}

// copyPrefix copies the template: registry files and small files are
// copied, the hundreds of megabytes of DLLs under drive_c/windows are hard
// links (Wine only reads them; the registry, which it rewrites, is copied).
func copyPrefix(from, to string) error {
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case strings.HasSuffix(path, ".dll") || strings.HasSuffix(path, ".exe") || strings.HasSuffix(path, ".drv") ||
			strings.HasSuffix(path, ".sys") || info.Size() > 1<<20:
			return os.Link(path, dst)
		default:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.WriteFile(dst, b, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Chtimes(dst, info.ModTime(), info.ModTime()) // Wine compares .update-timestamp
		}
	})
	if err != nil {
		return fmt.Errorf("copying the Wine template prefix %s: %w", from, err)
	}
	return nil
}
