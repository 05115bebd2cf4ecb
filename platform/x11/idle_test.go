//go:build linux

package x11_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/testrig"
)

func TestDisplayIdleDropsAfterXTESTInput(t *testing.T) {
	t.Parallel()
	x := testrig.Display(t)
	c := connect(t, x)
	idle := func() uint32 {
		t.Helper()
		ms, err := c.IdleMs()
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	grows := func() (bool, string) {
		ms := idle()
		return ms >= 300, fmt.Sprintf("idle %d ms, want >= 300", ms)
	}

	testrig.Eventually(t, 5*time.Second, grows)
	before := idle()
	// --sync returns once the pointer has moved, i.e. the server has
	// processed the XTEST event. The pointer starts at the screen's centre.
	x.MustXdotool(t, "mousemove", "--sync", "100", "100")
	if after := idle(); after >= 200 {
		t.Fatalf("idle after XTEST mousemove = %d ms (before: %d ms), want < 200", after, before)
	}
	testrig.Eventually(t, 5*time.Second, grows)
}
