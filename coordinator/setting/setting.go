// Package setting words configuration errors as facts about the settings
// they concern, named by the library's own names (its Config fields), so
// that a command can name each setting its own way: a flag, an environment
// variable, a line of a file.
package setting

import (
	"fmt"
	"regexp"
)

// Error is what is wrong with a configuration. Its format names each
// setting in braces ("{Grace} (%v) must be longer than {Heartbeat} (%v)");
// Error shows the bare names, Named whatever a command calls them.
type Error struct {
	format string
	args   []any
}

// Errorf makes an Error; format names settings in braces.
func Errorf(format string, args ...any) *Error { return &Error{format, args} }

var placeholder = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// Named is the error's text with each setting called name(setting).
func (e *Error) Named(name func(setting string) string) string {
	return fmt.Sprintf(e.rename(name), e.args...)
}

// Error is the text with the settings' own names.
func (e *Error) Error() string { return e.Named(func(s string) string { return s }) }

// Renamed is e with each setting renamed, for a library that embeds
// another's configuration under other names.
func (e *Error) Renamed(name func(setting string) string) *Error {
	return &Error{placeholder.ReplaceAllStringFunc(e.format, func(p string) string {
		return "{" + name(p[1:len(p)-1]) + "}"
	}), e.args}
}

func (e *Error) rename(name func(string) string) string {
	return placeholder.ReplaceAllStringFunc(e.format, func(p string) string { return name(p[1 : len(p)-1]) })
}
