package service

import (
	"strings"

	"github.com/vigil-cc/vigil/platform/sessions"
)

// HelperArgs is the helper's command line after the program: `session
// --coordinator <the service's socket> --session-id <the session's id>`,
// then args. The session id comes from the service, which found the
// session: the helper need not (and on Windows cannot) work it out.
func HelperArgs(socketURL string, s sessions.Session, args []string) []string {
	return append([]string{"session", "--coordinator", socketURL, "--session-id", s.ID}, args...)
}

// winLaunch is how the Windows service starts a session's helper: the
// command line, and the WTS session whose user's token it runs with.
type winLaunch struct {
	argv []string
	wts  uint32
	user string // for messages
}

// windowsLaunch plans the helper for s: bin with HelperArgs, reporting to
// the AF_UNIX socket at the Windows path socket.
func windowsLaunch(bin, socket string, s sessions.Session, args []string) winLaunch {
	url := "unix:///" + strings.ReplaceAll(socket, `\`, "/")
	return winLaunch{argv: append([]string{bin}, HelperArgs(url, s, args)...), wts: s.WTSID, user: s.User}
}
