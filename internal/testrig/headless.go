//go:build linux

package testrig

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// Headless starts a headless Debian chromium for t, driven by chromedp,
// with the rig's flags plus extra; Cleanup stops it.
func Headless(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	Require(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("password-store", "basic"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}
