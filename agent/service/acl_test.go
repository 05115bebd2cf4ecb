package service

import (
	"slices"
	"strings"
	"testing"
)

// sddl is what the tests read back from an SDDL string: owner, group,
// DACL flags and ACEs (no SACL: the service sets none).
type sddl struct {
	owner, group, daclFlags string
	aces                    []ace
}

type ace struct{ typ, flags, rights, sid string }

// parseSDDL reads the subset of SDDL the service writes:
// O:<sid>G:<sid>D:<flags>(<type>;<flags>;<rights>;;;<sid>)...
func parseSDDL(t *testing.T, s string) sddl {
	t.Helper()
	var d sddl
	rest, ok := strings.CutPrefix(s, "O:")
	if !ok {
		t.Fatalf("%s: no owner", s)
	}
	if d.owner, rest, ok = strings.Cut(rest, "G:"); !ok {
		t.Fatalf("%s: no group", s)
	}
	if d.group, rest, ok = strings.Cut(rest, "D:"); !ok {
		t.Fatalf("%s: no DACL", s)
	}
	i := strings.IndexByte(rest, '(')
	if i < 0 {
		t.Fatalf("%s: an empty DACL", s)
	}
	d.daclFlags, rest = rest[:i], rest[i:]
	for rest != "" {
		body, after, ok := strings.Cut(strings.TrimPrefix(rest, "("), ")")
		if !strings.HasPrefix(rest, "(") || !ok {
			t.Fatalf("%s: a malformed ACE at %q", s, rest)
		}
		f := strings.Split(body, ";")
		if len(f) != 6 || f[3] != "" || f[4] != "" {
			t.Fatalf("%s: ACE %q is not type;flags;rights;;;sid", s, body)
		}
		d.aces = append(d.aces, ace{f[0], f[1], f[2], f[5]})
		rest = after
	}
	return d
}

func TestSDDL(t *testing.T) {
	full := func(flags, sid string) ace { return ace{"A", flags, "FA", sid} }
	for _, tc := range []struct {
		name string
		sddl string
		aces []ace
	}{
		// Inherited by files (OI) and subdirectories (CI).
		{"directory", DirSDDL, []ace{full("OICI", "SY"), full("OICI", "BA")}},
		{"file", FileSDDL, []ace{full("", "SY"), full("", "BA")}},
		// Users may connect (read and write, not change the ACL or delete).
		{"socket", SocketSDDL, []ace{full("", "SY"), full("", "BA"), {"A", "", "FRFW", "AU"}}},
	} {
		d := parseSDDL(t, tc.sddl)
		if d.owner != "BA" || d.group != "SY" {
			t.Errorf("%s: owner %s group %s, want BA and SY", tc.name, d.owner, d.group)
		}
		// P: protected, nothing inherited from %ProgramData%.
		if !strings.Contains(d.daclFlags, "P") {
			t.Errorf("%s: DACL flags %q, want protected (P)", tc.name, d.daclFlags)
		}
		if !slices.Equal(d.aces, tc.aces) {
			t.Errorf("%s: ACEs %+v, want exactly %+v", tc.name, d.aces, tc.aces)
		}
	}
}

func TestCheckOwner(t *testing.T) {
	const dir = `C:\ProgramData\Vigil`
	const selfSID = "S-1-5-21-1004336348-1177238915-682003330-500"
	for _, tc := range []struct {
		sid, account string
		want         string // "" for accepted, else in the error
	}{
		{SIDSystem, `NT AUTHORITY\SYSTEM`, ""},
		{SIDAdministrators, `BUILTIN\Administrators`, ""},
		{"S-1-5-21-1004336348-1177238915-682003330-1001", `PC\mallory`,
			`refusing to use C:\ProgramData\Vigil: it is owned by PC\mallory (S-1-5-21-1004336348-1177238915-682003330-1001), not SYSTEM or Administrators`},
		{"S-1-5-32-545", "", "owned by S-1-5-32-545,"}, // Users; no name known
		{"S-1-1-0", "Everyone", "owned by Everyone (S-1-1-0)"},
		{"S-1-5-19", "", "owned by S-1-5-19,"},                                                       // LocalService is not SYSTEM
		{"S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464", "", "owned by S-1-5-80-"}, // TrustedInstaller
		{"S-1-5-32-5440", "", "owned by S-1-5-32-5440,"},                                             // a prefix is not the SID
		{"", "", "owned by an unknown owner,"},
		{selfSID, `PC\admin`, ""}, // the account running the check
	} {
		err := CheckOwner(dir, tc.sid, tc.account, selfSID)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("owner %s: %v, want accepted", tc.sid, err)
		case tc.want != "" && err == nil:
			t.Errorf("owner %s accepted, want refused", tc.sid)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("owner %s: %q, want it to contain %q", tc.sid, err, tc.want)
		}
	}
}
