// Package username holds Vigil's rules for user names, shared by the agent
// and the coordinator so that both sides compare names the same way.
//
// There are two rules, because a name means two things:
//
//   - [Fold] is the canonical form of a name that is compared
//     case-insensitively as a whole: Agent Desk user names, coordinator
//     account names, and the OS user of an explicit identity mapping. A
//     domain stays part of the name: `CORP\jdoe` and `jdoe` are different
//     OS users, so a mapping for one does not match the other.
//   - [Bare] is the name without its domain: the default mapping from an OS
//     user to an Agent Desk user (docs/api.md, mappings: the same name,
//     case-folded, with `DOMAIN\` and `@domain` stripped), and how a
//     helper's claimed OS user is matched with its peer's account.
package username

import "strings"

// Fold is name trimmed of surrounding white space and case-folded
// (`  CORP\JDoe ` → `corp\jdoe`).
func Fold(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// Bare is [Fold] of name with a Windows `DOMAIN\` prefix (up to the last
// backslash) and an `@domain` suffix (from the first @) stripped
// (`CORP\JDoe`, `jdoe@corp.example` → `jdoe`). It may be empty (`CORP\`).
func Bare(name string) string {
	u := Fold(name)
	if i := strings.LastIndexByte(u, '\\'); i >= 0 {
		u = u[i+1:]
	}
	if i := strings.IndexByte(u, '@'); i >= 0 {
		u = u[:i]
	}
	return u
}
