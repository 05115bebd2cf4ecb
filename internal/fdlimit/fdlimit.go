// Package fdlimit raises a process's open-file limit to what the system
// allows it: every WebSocket is a file, so the soft limit (often 1024)
// rather than memory would otherwise cap the agents a coordinator holds
// (or a load generator simulates).
package fdlimit

// Limit is the open-file limit before and after Raise.
type Limit struct {
	Was, Now uint64
}

// Raise sets the soft open-file limit to the hard one. ok is false where
// the OS has no such limit (Windows).
func Raise() (l Limit, ok bool, err error) { return raise() }
