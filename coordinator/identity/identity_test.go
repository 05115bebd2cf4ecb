package identity

import "testing"

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"jane":                  "jane",
		"Jane":                  "jane",
		`CORP\Jane`:             "jane",
		"jane@corp.example":     "jane",
		`CORP\bob@corp.example`: "bob",
		"  bob ":                "bob",
		"":                      "",
		`CORP\`:                 "",
		"ÉLODIE":                "élodie",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeyKeepsTheDomain(t *testing.T) {
	if Key(`CORP\JSmith`) != `corp\jsmith` || Key(`CORP\JSmith`) == Key("jsmith") {
		t.Errorf("Key must fold case and keep the domain: %q", Key(`CORP\JSmith`))
	}
}
