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
	*deskTab // the Agent Desk in the first seat's Chromium
}

// newRig starts a rig with T = timeout whose Chromium shows the reference
// Agent Desk signed in as ann (the agent's OS user is mapped to ann).
func newRig(t *testing.T, timeout int) *rig {
	t.Helper()
	return newRigWith(t, e2etest.RigOptions{Timeout: timeout})
}

// newRigWith is newRig with more options: the agent binary, the page and
// the sign-in are newRig's. The agent is built without -race: the agent's
// own race tests live in its package, and a race build would cost the
// rigs' shared CPU.
func newRigWith(t *testing.T, o e2etest.RigOptions) *rig {
	t.Helper()
	r := &rig{}
	o.Bin = builder.Binary(t, false)
	o.Page = func(co *e2etest.Coord) string { return co.Base + "/desk/" }
	o.SignIn = r.signIn
	r.Rig = e2etest.NewRig(t, o)
	// Let a second pass since the last in-page input (the sign-in), so the
	// page's next input report is sent at once.
	time.Sleep(1100 * time.Millisecond)
	return r
}

// signIn maps the agent's OS user to ann and signs ann in to the Agent
// Desk in the rig's window by typing, as a person would (XTEST input, all
// before the scenario's t0).
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
	r.deskTab = openDesk(t, er.Seat)
	r.typeSignIn(r.Co, agentName, agentPassword)
}

// deskTab is the Agent Desk's tab in a seat's Chromium, looked at over
// DevTools: for tab switches and to read the page, never for input.
type deskTab struct {
	t      testing.TB
	seat   *e2etest.Seat
	bctx   context.Context // chromedp, connected to the seat's Chromium
	deskID target.ID       // the Agent Desk's tab
}

// openDesk connects to the seat's Chromium and finds its Agent Desk tab.
func openDesk(t testing.TB, seat *e2etest.Seat) *deskTab {
	t.Helper()
	actx, cancelA := remote.NewAllocator(context.Background(), seat.Browser.DevToolsURL)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	d := &deskTab{t: t, seat: seat, bctx: bctx}
	d.findDesk(bctx)
	return d
}

// typeSignIn signs name in to the Agent Desk in the tab by typing into the
// seat's display, as a person would (XTEST input), once the form is there
// with the focus in its name field; it returns when the tab shows the
// Agent Desk and the user's clock runs.
func (d *deskTab) typeSignIn(co *e2etest.Coord, name, password string) {
	t := d.t
	t.Helper()
	x := d.seat.X
	for attempt := 1; ; attempt++ {
		d.waitJS(`document.readyState === 'complete' && !!document.getElementById('name') &&
			(document.getElementById('name').value = '', document.getElementById('password').value = '',
			 document.getElementById('name').focus(), document.activeElement.id === 'name') && document.hasFocus()`, 15*time.Second)
		x.MustXdotool(t, "type", "--delay", "30", name)
		x.MustXdotool(t, "key", "Tab")
		x.MustXdotool(t, "type", "--delay", "30", password)
		x.MustXdotool(t, "key", "Return")
		_, ok := testrig.Poll(10*time.Second, func() (bool, string) {
			desk, _ := d.pageJS(`!!document.getElementById('policy')`)
			return desk && co.User(name).State == "active", ""
		})
		if ok {
			break
		}
		if attempt == 3 {
			t.Fatalf("the desk sign-in did not take after %d attempts: %+v", attempt, co.User(name))
		}
		t.Logf("the desk sign-in did not take (attempt %d); again", attempt)
		x.Activate(t, d.seat.Browser.Window)
	}
	d.waitJS(`!!document.getElementById('policy') && document.readyState === 'complete' && document.title.startsWith('Agent Desk')`, 15*time.Second)
}

// pageJS evaluates js in the Agent Desk's tab, attaching for this call
// only (and detaching after, which leaves the tab open).
func (d *deskTab) pageJS(js string) (bool, error) {
	ctx, cancel := chromedp.NewContext(d.bctx, chromedp.WithTargetID(d.deskID), chromedp.WithDetachOnCancel())
	defer cancel()
	c, cancelT := context.WithTimeout(ctx, 3*time.Second)
	defer cancelT()
	return chromedp.Run(c, chromedp.Evaluate[bool](js))
}

// waitJS polls js (a boolean expression) in the Agent Desk's tab.
func (d *deskTab) waitJS(js string, within time.Duration) {
	d.t.Helper()
	testrig.Eventually(d.t, within, func() (bool, string) {
		ok, err := d.pageJS(js)
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
func (d *deskTab) findDesk(bctx context.Context) {
	d.t.Helper()
	testrig.Eventually(d.t, 10*time.Second, func() (bool, string) {
		ts, err := chromedp.Targets(bctx)
		if err != nil {
			return false, err.Error()
		}
		for _, ti := range ts {
			if ti.Type == "page" && strings.Contains(ti.URL, "/desk/") {
				d.deskID = ti.TargetID
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
