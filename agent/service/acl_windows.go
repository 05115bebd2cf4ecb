package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// SecureDir makes dir the service's private directory (DirSDDL): created
// with that descriptor if missing, else refused unless SYSTEM or
// Administrators own it (CheckOwner), then given the descriptor, which
// also reaches what the directory already holds. Needs an elevated
// Administrator or SYSTEM (setting Administrators as owner).
func SecureDir(dir string) error {
	sd, err := windows.SecurityDescriptorFromString(DirSDDL)
	if err != nil {
		return fmt.Errorf("reading the directory's security descriptor: %w", err)
	}
	created, err := createDir(dir, sd)
	if err != nil || created {
		return err
	}
	return applySD(dir, sd, true)
}

// SecureFile gives the file at path (the config, the device token)
// FileSDDL, after the same owner check; nothing if there is no file.
func SecureFile(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	sd, err := windows.SecurityDescriptorFromString(FileSDDL)
	if err != nil {
		return fmt.Errorf("reading the file's security descriptor: %w", err)
	}
	return applySD(path, sd, false)
}

// selfSID is the SID of the user this process runs as; "" if unknown.
func selfSID() string {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return ""
	}
	return tu.User.Sid.String()
}

// CreatePrivate creates (or truncates) the file at path with FileSDDL
// from the first moment: owned by Administrators, whoever creates it (an
// elevated administrator, SYSTEM in an MSI's custom action), so that
// SecureFile's owner check passes for a file we wrote ourselves.
func CreatePrivate(path string) (*os.File, error) {
	sd, err := windows.SecurityDescriptorFromString(FileSDDL)
	if err != nil {
		return nil, fmt.Errorf("reading the file's security descriptor: %w", err)
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, 0, sa, windows.CREATE_ALWAYS, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	return os.NewFile(uintptr(h), path), nil
}

// secureSocket lets the sessions' users connect to the socket at path
// (SocketSDDL): created in the service's directory, it inherited an ACL
// that lets nobody but SYSTEM and Administrators in.
func secureSocket(path string) error {
	sd, err := windows.SecurityDescriptorFromString(SocketSDDL)
	if err != nil {
		return fmt.Errorf("reading the socket's security descriptor: %w", err)
	}
	return applySD(path, sd, false)
}

// createDir creates dir with sd from the first moment, so it never has
// the parent's ACL; false if it already exists.
func createDir(dir string, sd *windows.SECURITY_DESCRIPTOR) (bool, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return false, fmt.Errorf("creating %s: %w", dir, err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	err = windows.CreateDirectory(p, sa)
	if errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
		// A --config-dir or --state-dir whose parents are missing: they
		// get the usual ACL, dir itself ours.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return false, fmt.Errorf("creating %s: %w", filepath.Dir(dir), err)
		}
		err = windows.CreateDirectory(p, sa)
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_ALREADY_EXISTS):
		return false, nil
	}
	return false, fmt.Errorf("creating %s: %w", dir, err)
}

// applySD checks who owns path and, if CheckOwner trusts them, sets sd's
// owner and protected DACL on it.
func applySD(path string, sd *windows.SECURITY_DESCRIPTOR, dir bool) error {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return fmt.Errorf("securing %s: %w", path, err)
	}
	// Not following a link or junction (its own owner is what counts),
	// and without FILE_SHARE_DELETE so that what was checked cannot be
	// renamed away and replaced before it is set.
	h, err := windows.CreateFile(p, windows.READ_CONTROL|windows.WRITE_DAC|windows.WRITE_OWNER,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		// Only someone else's ACL keeps SYSTEM and Administrators out.
		return fmt.Errorf("refusing to use %s: its ACL denies SYSTEM and Administrators "+
			"(another user may have created it before the install); take ownership, delete it and install again: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("opening %s to check its owner: %w", path, err)
	}
	defer windows.CloseHandle(h)
	if dir {
		var fi windows.ByHandleFileInformation
		if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
			return fmt.Errorf("reading %s's attributes: %w", path, err)
		}
		if fi.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY == 0 || fi.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 {
			return fmt.Errorf("refusing to use %s: it is a link, a junction or a file, not a directory", path)
		}
	}
	cur, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading %s's owner: %w", path, err)
	}
	owner, _, err := cur.Owner()
	if err != nil {
		return fmt.Errorf("reading %s's owner: %w", path, err)
	}
	if err := CheckOwner(path, owner.String(), accountName(owner), selfSID()); err != nil {
		return err
	}
	newOwner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("securing %s: %w", path, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("securing %s: %w", path, err)
	}
	info := windows.SECURITY_INFORMATION(windows.OWNER_SECURITY_INFORMATION | windows.DACL_SECURITY_INFORMATION |
		windows.PROTECTED_DACL_SECURITY_INFORMATION)
	if dir {
		// By name: unlike SetSecurityInfo, SetNamedSecurityInfo passes the
		// inheritable ACEs on to what the directory already holds (logs or
		// a config from before this version). The handle stays open.
		err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info, newOwner, nil, dacl, nil)
	} else {
		err = windows.SetSecurityInfo(h, windows.SE_FILE_OBJECT, info, newOwner, nil, dacl, nil)
	}
	if err != nil {
		return fmt.Errorf("setting %s's owner and ACL: %w", path, err)
	}
	return nil
}

// accountName is DOMAIN\user for sid, or "" if Windows cannot name it.
func accountName(sid *windows.SID) string {
	account, domain, _, err := sid.LookupAccount("")
	switch {
	case err != nil:
		return ""
	case domain == "":
		return account
	}
	return domain + `\` + account
}
