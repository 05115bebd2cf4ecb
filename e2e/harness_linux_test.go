//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// tolerance for every decision against its ideal instant.
const tolerance = 500 * time.Millisecond

// T is the timeout of the scenarios: the minimum the settings allow.
const T = 30 * time.Second

// rigs bounds how many scenarios run at once. Each one is an Xvfb, a
// PulseAudio, a Chromium, the agent and a coordinator, mostly waiting for
// real time to pass; the machine has 2 cores shared with others, so more
// than 3 at once would slow every rig's timing.
var rigs = make(chan struct{}, 3)

func TestMain(m *testing.M) {
	// Every scenario waits on the semaphore rather than on -parallel.
	e2etest.Main(m, builder, &timings, "End-to-end timing (seconds after each scenario's t0):", "")
}

// scenario marks a long end-to-end test: parallel, and holding one of the
// rig slots until it ends (see e2etest.Long).
func scenario(t *testing.T) {
	t.Helper()
	e2etest.Long(t, rigs)
}

var builder = &e2etest.Builder{Prefix: "vigil-e2e-"}

// agentName is the Agent Desk user of every rig: the agent's OS user is
// mapped to it, and it signs in to the reference Agent Desk.
const agentName = "ann"

const agentPassword = "ann-desk-password"

type conversation struct {
	ID           string `json:"id"`
	Channel      string `json:"channel"`
	State        string `json:"state"`
	User         string `json:"user"`
	ReroutedFrom string `json:"rerouted_from"`
}

func newConversation(c *e2etest.Coord, channel, customer string) conversation {
	c.T.Helper()
	var conv conversation
	c.Must("POST", "/api/v1/conversations", map[string]string{"channel": channel, "customer": customer}, &conv)
	return conv
}

type rig struct {
	*e2etest.Rig
	bctx    context.Context // chromedp, connected to the rig's Chromium
	cancelB context.CancelFunc
	deskID  target.ID // the Agent Desk's tab
}

// newRig starts a rig with T = timeout whose Chromium shows the reference
// Agent Desk signed in as ann (the agent's OS user is mapped to ann). The
// agent is built without -race: the agent's own race tests live in its
// package, and a race build would cost the rigs' shared CPU.
func newRig(t *testing.T, timeout int) *rig {
	t.Helper()
	r := &rig{}
	r.Rig = e2etest.NewRig(t, e2etest.RigOptions{
		Bin: builder.Binary(t, false), Timeout: timeout,
		Page:   func(co *e2etest.Coord) string { return co.Base + "/desk/" },
		SignIn: r.signIn,
	})
	// Let a second pass since the last in-page input (the sign-in), so the
	// page's next input report is sent at once.
	time.Sleep(1100 * time.Millisecond)
	return r
}

// signIn maps the agent's OS user to ann and signs ann in to the Agent
// Desk in the rig's window by typing, as a person would (XTEST input, all
// before the scenario's t0), once the form is there with the focus in its
// name field.
func (r *rig) signIn(er *e2etest.Rig) {
	t := er.T
	t.Helper()
	r.Rig = er
	r.User = agentName
	r.Co.Must("POST", "/api/v1/accounts", map[string]string{"name": agentName, "role": "agent", "password": agentPassword}, nil)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	r.Co.Must("PUT", "/api/v1/mappings/"+url.PathEscape(me.Username), map[string]string{"desk_user": agentName}, nil)

	// DevTools, for tab switches and to look at the page (never input).
	actx, cancelA := remote.NewAllocator(context.Background(), r.Browser.DevToolsURL)
	r.bctx, r.cancelB = chromedp.NewContext(actx)
	t.Cleanup(func() { r.cancelB(); cancelA() })
	r.findDesk(r.bctx)

	for attempt := 1; ; attempt++ {
		r.waitJS(`document.readyState === 'complete' && !!document.getElementById('name') &&
			(document.getElementById('name').value = '', document.getElementById('password').value = '',
			 document.getElementById('name').focus(), document.activeElement.id === 'name') && document.hasFocus()`, 15*time.Second)
		r.X.MustXdotool(t, "type", "--delay", "30", agentName)
		r.X.MustXdotool(t, "key", "Tab")
		r.X.MustXdotool(t, "type", "--delay", "30", agentPassword)
		r.X.MustXdotool(t, "key", "Return")
		_, ok := testrig.Poll(10*time.Second, func() (bool, string) { return r.Co.User(agentName).State == "active", "" })
		if ok {
			break
		}
		if attempt == 3 {
			t.Fatalf("the desk sign-in did not take after %d attempts: %+v", attempt, r.Co.User(agentName))
		}
		t.Logf("the desk sign-in did not take (attempt %d); again", attempt)
		r.X.Activate(t, r.Browser.Window)
	}
	r.waitJS(`!!document.getElementById('policy') && document.readyState === 'complete' && document.title.startsWith('Agent Desk')`, 15*time.Second)
}

// pageJS evaluates js in the Agent Desk's tab, attaching for this call
// only (and detaching after, which leaves the tab open).
func (r *rig) pageJS(js string) (bool, error) {
	ctx, cancel := chromedp.NewContext(r.bctx, chromedp.WithTargetID(r.deskID), chromedp.WithDetachOnCancel())
	defer cancel()
	c, cancelT := context.WithTimeout(ctx, 3*time.Second)
	defer cancelT()
	return chromedp.Run(c, chromedp.Evaluate[bool](js))
}

// waitJS polls js (a boolean expression) in the Agent Desk's tab.
func (r *rig) waitJS(js string, within time.Duration) {
	r.T.Helper()
	testrig.Eventually(r.T, within, func() (bool, string) {
		ok, err := r.pageJS(js)
		return err == nil && ok, fmt.Sprintf("in the Agent Desk, %s (error %v)", js, err)
	})
}

// waitJS polls js (a boolean expression) in ctx's page.
func waitJS(t *testing.T, ctx context.Context, js string, within time.Duration) {
	t.Helper()
	testrig.Eventually(t, within, func() (bool, string) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](js))
		return err == nil && ok, fmt.Sprintf("%s (error %v)", js, err)
	})
}

// findDesk waits for the Agent Desk's tab and notes its target id.
func (r *rig) findDesk(bctx context.Context) {
	r.T.Helper()
	testrig.Eventually(r.T, 10*time.Second, func() (bool, string) {
		ts, err := chromedp.Targets(bctx)
		if err != nil {
			return false, err.Error()
		}
		for _, ti := range ts {
			if ti.Type == "page" && strings.Contains(ti.URL, "/desk/") {
				r.deskID = ti.TargetID
				return true, ""
			}
		}
		return false, fmt.Sprintf("no Agent Desk tab among %d targets", len(ts))
	})
}

// ---- timing records ----

var timings e2etest.Timings

// record notes an observed instant against the ideal one (see
// e2etest.Timings.Record).
func record(t *testing.T, event string, t0, want, got time.Time, tol time.Duration) {
	t.Helper()
	timings.Record(t, t.Name(), event, t0, want, got, tol)
}
