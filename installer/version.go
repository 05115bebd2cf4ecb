package installer

import (
	"fmt"
	"regexp"
	"strconv"
)

// Version is one build's version in each package format's terms.
type Version struct {
	// Package is the .deb and .rpm version, and the binaries' own
	// (agent.Version): 1.2.3, or 1.2.3+4.gabc1234 four commits after
	// v1.2.3, with .dirty for uncommitted changes.
	Package string
	// MSI is the MSI's ProductVersion, major.minor.build with build =
	// patch·1000 + commits since the tag, so that every later commit's MSI
	// is a MajorUpgrade of the earlier one (Windows Installer compares only
	// these three fields, each of build at most 65535).
	MSI string
}

var describeRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:-(\d+)-g([0-9a-f]+))?(-dirty)?$`)
var hashRE = regexp.MustCompile(`^([0-9a-f]{4,})(-dirty)?$`)

// ParseDescribe turns `git describe --tags --always --dirty --match
// 'v[0-9]*'` into a Version. Without a release tag (describe gives only
// the commit) the version is 0.0.0 with commits, the number of commits
// (git rev-list --count HEAD), in place of the commits since a tag.
func ParseDescribe(describe string, commits int) (Version, error) {
	var major, minor, patch, since int
	var hash, dirty string
	if m := describeRE.FindStringSubmatch(describe); m != nil {
		major, _ = strconv.Atoi(m[1])
		minor, _ = strconv.Atoi(m[2])
		patch, _ = strconv.Atoi(m[3])
		if m[4] != "" {
			since, _ = strconv.Atoi(m[4])
			hash = m[5]
		}
		dirty = m[6]
	} else if m := hashRE.FindStringSubmatch(describe); m != nil {
		since, hash, dirty = commits, m[1], m[2]
	} else {
		return Version{}, fmt.Errorf("version from git describe %q: want vMAJOR.MINOR.PATCH[-N-gHASH][-dirty] or a commit hash", describe)
	}
	if major > 255 || minor > 255 {
		return Version{}, fmt.Errorf("version %q: an MSI's major and minor version are at most 255", describe)
	}
	if since > 999 || patch*1000+since > 65535 {
		return Version{}, fmt.Errorf("version %q: %d commits after patch %d do not fit an MSI's build field (patch·1000 + commits ≤ 65535, commits < 1000): tag a release", describe, since, patch)
	}
	v := Version{
		Package: fmt.Sprintf("%d.%d.%d", major, minor, patch),
		MSI:     fmt.Sprintf("%d.%d.%d", major, minor, patch*1000+since),
	}
	if hash != "" {
		v.Package += fmt.Sprintf("+%d.g%s", since, hash)
	}
	if dirty != "" {
		v.Package += ".dirty"
	}
	return v, nil
}
