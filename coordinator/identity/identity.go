// Package identity maps the OS user a workstation reports to the Agent Desk
// user whose clock it speaks for.
package identity

import "strings"

// Normalize is the default mapping: the same name, case-folded, with a
// Windows `DOMAIN\` prefix and a `@domain` suffix stripped.
func Normalize(osUser string) string {
	u := strings.TrimSpace(osUser)
	if i := strings.LastIndexByte(u, '\\'); i >= 0 {
		u = u[i+1:]
	}
	if i := strings.IndexByte(u, '@'); i >= 0 {
		u = u[:i]
	}
	return strings.ToLower(u)
}

// Key is how an OS user is looked up in the explicit mapping table: the
// whole name case-folded, so `CORP\Jane` and `corp\jane` are one entry.
func Key(osUser string) string { return strings.ToLower(strings.TrimSpace(osUser)) }

// Resolve returns the Agent Desk user for osUser: an explicit mapping wins;
// otherwise the normalized name, if it is a known Agent Desk user. ok is
// false for an unmapped OS user, who is ignored.
func Resolve(osUser string, mappings map[string]string, known func(deskUser string) bool) (deskUser string, ok bool) {
	if d, ok := mappings[Key(osUser)]; ok {
		return d, true
	}
	if d := Normalize(osUser); d != "" && known(d) {
		return d, true
	}
	return "", false
}
