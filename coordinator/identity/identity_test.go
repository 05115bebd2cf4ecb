package identity

import "testing"

func TestResolve(t *testing.T) {
	known := map[string]bool{"jane": true, "bob": true, "ops-lead": true}
	mappings := map[string]string{`corp\jsmith`: "jane", "root": "ops-lead"}
	for _, tc := range []struct {
		os, want string
		ok       bool
	}{
		{"jane", "jane", true},
		{"Jane", "jane", true},
		{`CORP\Jane`, "jane", true},
		{"jane@corp.example", "jane", true},
		{`CORP\bob@corp.example`, "bob", true},
		{"  bob ", "bob", true},
		{`CORP\JSmith`, "jane", true}, // explicit mapping, case-insensitive
		{"ROOT", "ops-lead", true},
		{"jsmith", "", false}, // the mapping is for the domain account only
		{"mallory", "", false},
		{"", "", false},
		{`CORP\`, "", false},
	} {
		got, ok := Resolve(tc.os, mappings, func(d string) bool { return known[d] })
		if got != tc.want || ok != tc.ok {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tc.os, got, ok, tc.want, tc.ok)
		}
	}
}
