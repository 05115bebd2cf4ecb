package engine

import "math"

// never is the deadline of a user whose state cannot change by itself.
const never = math.MaxInt64

// schedule is a min-heap of users by deadline, so the engine needs one timer
// in all: the caller's, set to the earliest deadline.
type schedule []*user

// set places u at deadline d, or takes it out when d is never.
func (s *schedule) set(u *user, d int64) {
	switch {
	case u.heapIdx < 0 && d == never:
	case u.heapIdx < 0:
		u.deadline = d
		u.heapIdx = len(*s)
		*s = append(*s, u)
		s.up(u.heapIdx)
	case d == never:
		s.remove(u)
	default:
		old := u.deadline
		u.deadline = d
		if d < old {
			s.up(u.heapIdx)
		} else if d > old {
			s.down(u.heapIdx)
		}
	}
}

func (s *schedule) remove(u *user) {
	h := *s
	i, last := u.heapIdx, len(h)-1
	if i != last {
		s.swap(i, last)
	}
	h[last] = nil
	*s = h[:last]
	u.heapIdx, u.deadline = -1, never
	if i != last {
		s.down(i)
		s.up(i)
	}
}

func (s schedule) swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].heapIdx, s[j].heapIdx = i, j
}

func (s schedule) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if s[p].deadline <= s[i].deadline {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s schedule) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(s) {
			return
		}
		m := l
		if r := l + 1; r < len(s) && s[r].deadline < s[l].deadline {
			m = r
		}
		if s[i].deadline <= s[m].deadline {
			return
		}
		s.swap(i, m)
		i = m
	}
}
