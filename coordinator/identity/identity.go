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
