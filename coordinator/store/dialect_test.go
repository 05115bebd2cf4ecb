package store

import "testing"

func TestBind(t *testing.T) {
	for _, c := range []struct {
		pg       bool
		in, want string
	}{
		{false, "SELECT ? FROM t WHERE a = ?", "SELECT ? FROM t WHERE a = ?"},
		{true, "SELECT x FROM t WHERE a = ? AND b IN (?, ?)", "SELECT x FROM t WHERE a = $1 AND b IN ($2, $3)"},
		{true, "SELECT '?' , \"a?\" FROM t WHERE a = ?", "SELECT '?' , \"a?\" FROM t WHERE a = $1"},
		{true, "SELECT 'it''s?' WHERE a = ?", "SELECT 'it''s?' WHERE a = $1"},
		{true, "SELECT 1", "SELECT 1"},
	} {
		if got := bind(c.pg, c.in); got != c.want {
			t.Errorf("bind(%v, %q) = %q, want %q", c.pg, c.in, got, c.want)
		}
	}
}
