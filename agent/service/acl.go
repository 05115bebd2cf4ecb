package service

import "fmt"

// The service's files on Windows live in %ProgramData%\Vigil: the config
// (with the enrollment token), the device token, the logs and the
// helpers' socket. %ProgramData% lets every user read and create
// directories, so the service gives its directory an explicit,
// protected ACL (nothing inherited from the parent) and refuses one that
// someone else created first. The descriptors are SDDL strings, here so
// they are tested on every OS; acl_windows.go applies them.
const (
	// DirSDDL: owned by Administrators; SYSTEM and Administrators have
	// full control, inherited by every file and subdirectory (OICI);
	// nobody else has access. P: the DACL is protected.
	DirSDDL = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	// FileSDDL is DirSDDL for one file (config, device token): the same
	// two ACEs, explicit and protected, so a file moved in keeps no
	// broader ACL it came with.
	FileSDDL = "O:BAG:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)"
	// SocketSDDL lets the helpers, which run as the sessions' users,
	// connect (read and write) to the service's AF_UNIX socket, like the
	// 0666 socket on Linux; the service checks who each peer is.
	SocketSDDL = "O:BAG:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)(A;;FRFW;;;AU)"
)

// The owners the service trusts with its directory.
const (
	SIDSystem         = "S-1-5-18"
	SIDAdministrators = "S-1-5-32-544"
)

// CheckOwner refuses a directory or file of the service's owned by anyone
// but SYSTEM, Administrators or self: a user who created %ProgramData%\Vigil
// before the install could read or replace what the service keeps there.
// sid is the owner's SID string; account, its name if known, for the
// message; self, the SID of the account checking (an elevated
// administrator running install, or SYSTEM), which may own what it created
// itself (an administrator's files are owned by their own account unless
// their token says Administrators; Wine's always are).
func CheckOwner(path, sid, account, self string) error {
	switch {
	case sid == SIDSystem, sid == SIDAdministrators, sid != "" && sid == self:
		return nil
	}
	who := sid
	switch {
	case sid == "":
		who = "an unknown owner"
	case account != "":
		who = account + " (" + sid + ")"
	}
	return fmt.Errorf("refusing to use %s: it is owned by %s, not SYSTEM or Administrators "+
		"(another user may have created it before the install); delete it and install again", path, who)
}
