// Package fault is the vocabulary of errors a person can act on, shared by
// the packages that make changes (coordinator/admin, the built-in
// controller) so that each transport (coordinator/api, coordinator/web)
// maps them to its answers in one place. Match them with errors.Is; their
// text is the message for the person, without the kind.
package fault

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid: input that cannot make the change; the text says what to
	// fix.
	ErrInvalid = errors.New("invalid")
	// ErrConflict: the change contradicts what is stored or the state
	// things are in; the text says why.
	ErrConflict = errors.New("conflict")
)

// Invalidf is an ErrInvalid saying what to fix.
func Invalidf(format string, args ...any) error {
	return &kindError{ErrInvalid, fmt.Sprintf(format, args...)}
}

// Conflictf is an ErrConflict saying why not.
func Conflictf(format string, args ...any) error {
	return &kindError{ErrConflict, fmt.Sprintf(format, args...)}
}

// kindError is an error whose text is for a person and which errors.Is
// takes for its kind.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }
