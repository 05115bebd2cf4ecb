package main

import (
	"fmt"
	"log/slog"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"

	"github.com/vigil-cc/vigil/platform/sessions"
)

// kardianos/service's Windows control handler accepts stop and shutdown
// only, with no option for more, so the SCM would never tell it about
// session changes. When the SCM runs us, runSCM talks to it directly
// (x/sys/windows/svc) and accepts SERVICE_CONTROL_SESSIONCHANGE too;
// kardianos still installs, starts, stops and queries the service, and
// runs it in a terminal.

// runSCM runs prg as the SCM's service, sending on changed (without
// blocking) when a session change may change the helpers to run. ok is
// false when the SCM did not start us: the caller runs prg itself.
func runSCM(prg *program, changed chan<- struct{}, log *slog.Logger) (ok bool, err error) {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return true, fmt.Errorf("checking whether the SCM started us: %w", err)
	}
	if !isService {
		return false, nil
	}
	h := &scmHandler{prg: prg, changed: changed, log: log}
	if err := svc.Run(serviceName, h); err != nil {
		return true, fmt.Errorf("running as the %s service: %w", serviceName, err)
	}
	return true, nil
}

type scmHandler struct {
	prg     *program
	changed chan<- struct{}
	log     *slog.Logger
}

// stopWait is how long the SCM is told a stop may take: the program
// waits up to 15 s for the service to close its sessions.
const stopWait = 20_000 // ms

func (h *scmHandler) Execute(_ []string, reqs <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	const accepts = svc.AcceptStop | svc.AcceptShutdown | svc.AcceptSessionChange
	status <- svc.Status{State: svc.StartPending}
	if err := h.prg.Start(nil); err != nil {
		h.log.Error("starting the service failed", "err", err)
		return true, 1
	}
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for c := range reqs {
		switch c.Cmd {
		case svc.Interrogate:
			status <- c.CurrentStatus
		case svc.Stop, svc.Shutdown:
			status <- svc.Status{State: svc.StopPending, WaitHint: stopWait}
			_ = h.prg.Stop(nil)
			return false, 0
		case svc.SessionChange:
			h.sessionChange(c)
		}
	}
	return false, 0
}

// sessionChange nudges the supervisor when the event can change the set
// of active sessions.
func (h *scmHandler) sessionChange(c svc.ChangeRequest) {
	wts := -1
	// EventData points to a WTSSESSION_NOTIFICATION the SCM owns for the
	// duration of the call (read through a pointer to the field, the
	// conversion vet accepts).
	if n := *(**windows.WTSSESSION_NOTIFICATION)(unsafe.Pointer(&c.EventData)); n != nil {
		wts = int(n.SessionID)
	}
	rescan := sessions.RescanOnChange(c.EventType)
	h.log.Debug("session change", "event", sessions.WTSEventName(c.EventType), "wts", wts, "rescan", rescan)
	if !rescan {
		return
	}
	select {
	case h.changed <- struct{}{}:
	default: // a look is already due
	}
}
