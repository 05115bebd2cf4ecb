package username

import "testing"

func TestFold(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"jane", "jane"},
		{"Jane", "jane"},
		{"  bob ", "bob"},
		{`CORP\JSmith`, `corp\jsmith`}, // the domain stays
		{"Jane@Corp.Example", "jane@corp.example"},
		{"ÉLODIE", "élodie"},
		{"\tann\n", "ann"},
		{"", ""},
	} {
		if got := Fold(c.in); got != c.want {
			t.Errorf("Fold(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestBare(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"jane", "jane"},
		{"Jane", "jane"},
		{`CORP\Jane`, "jane"},
		{"jane@corp.example", "jane"},
		{`CORP\bob@corp.example`, "bob"},
		{`A\B\carol`, "carol"}, // up to the last backslash
		{"dave@x@y", "dave"},   // from the first @
		{"  bob ", "bob"},
		{` CORP\Ann `, "ann"},
		{"", ""},
		{`CORP\`, ""},
		{"@corp", ""},
		{"ÉLODIE", "élodie"},
	} {
		if got := Bare(c.in); got != c.want {
			t.Errorf("Bare(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFoldKeepsTheDomainApart(t *testing.T) {
	if Fold(`CORP\JSmith`) == Fold("jsmith") {
		t.Error("Fold must keep the domain: CORP\\JSmith and jsmith are different OS users")
	}
	if Bare(`CORP\JSmith`) != Fold("jsmith") {
		t.Error("Bare(CORP\\JSmith) must be the Agent Desk user jsmith")
	}
}
