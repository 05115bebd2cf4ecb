package engine

// Input is judged by the state at the instant it happened (arrival − idle),
// not when its report arrives: input made while counting and reported just
// after a pause still resets I, as of the input. So each user keeps its last
// few counting periods.

// span is a counting period [from, to); input from early on counts at from
// (early is from − ResumeWindow, or the start of an outage: DESIGN §1).
type span struct{ from, early, to int64 }

// historyLen bounds the periods kept. Only input newer than the sensor's last
// message can be new, and every window change is itself a reading, so
// between two messages only calls, settings and the page's visibility pause
// and resume the clock: a handful of times at most.
const historyLen = 4

// history is a ring of the newest counting periods to end.
type history struct {
	buf  [historyLen]span
	next uint8
	n    uint8
}

func (h *history) add(p span) {
	h.buf[h.next] = p
	h.next = (h.next + 1) % historyLen
	h.n = min(h.n+1, historyLen)
}

// at returns the k-th newest period (k < n).
func (h *history) at(k int) span { return h.buf[(int(h.next)-1-k+historyLen)%historyLen] }

// forget drops every period: the clock starts again (or stopped for good),
// so no earlier input can lower I.
func (h *history) forget() { h.n, h.next = 0, 0 }

// since judges input made at in against u's counting periods: from is when
// it takes effect (in itself while counting, or the resume it came before)
// and i the time counted from then to t; ok is false for input made while
// not counting (or before the periods kept).
func (u *user) since(in, t int64) (from, i int64, ok bool) {
	if u.counting {
		if in >= u.resumeFrom {
			from = max(in, u.resumedAt)
			return from, t - from, true
		}
		i = t - u.resumedAt
	}
	for k := range int(u.past.n) {
		p := u.past.at(k)
		if in >= p.early {
			if in >= p.to {
				return 0, 0, false // in the pause after p
			}
			from = max(in, p.from)
			return from, i + p.to - from, true
		}
		i += p.to - p.from
	}
	return 0, 0, false
}
