package installer

import (
	"strings"
	"testing"
)

func TestParseDescribe(t *testing.T) {
	for _, tc := range []struct {
		describe string
		commits  int
		pkg, msi string
		wantErr  string
	}{
		{"v1.2.3", 0, "1.2.3", "1.2.3000", ""},
		{"1.2.3", 0, "1.2.3", "1.2.3000", ""},
		{"v1.2.3-4-gabc1234", 0, "1.2.3+4.gabc1234", "1.2.3004", ""},
		{"v1.2.3-4-gabc1234-dirty", 0, "1.2.3+4.gabc1234.dirty", "1.2.3004", ""},
		{"v1.2.3-dirty", 0, "1.2.3.dirty", "1.2.3000", ""},
		{"16d84d3", 312, "0.0.0+312.g16d84d3", "0.0.312", ""},
		{"16d84d3-dirty", 312, "0.0.0+312.g16d84d3.dirty", "0.0.312", ""},
		{"v0.9.65-535-g1", 0, "0.9.65+535.g1", "0.9.65535", ""},
		{"v0.9.65-536-g1", 0, "", "", "do not fit"},
		{"v1.0.0-1000-gabc", 0, "", "", "do not fit"},
		{"16d84d3", 1000, "", "", "tag a release"},
		{"v256.0.0", 0, "", "", "at most 255"},
		{"release-1", 0, "", "", "want vMAJOR"},
		{"", 0, "", "", "want vMAJOR"},
	} {
		v, err := ParseDescribe(tc.describe, tc.commits)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseDescribe(%q) = %+v, %v; want an error with %q", tc.describe, v, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("ParseDescribe(%q): %v", tc.describe, err)
		case v.Package != tc.pkg || v.MSI != tc.msi:
			t.Errorf("ParseDescribe(%q) = %+v, want %s / %s", tc.describe, v, tc.pkg, tc.msi)
		}
	}
}
