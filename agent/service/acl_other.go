//go:build !windows

package service

import "os"

// SecureDir: elsewhere the service's directories get their modes where
// they are created (root-owned, 0700 for the state); nothing to do.
func SecureDir(string) error { return nil }

// SecureFile: elsewhere the files are written 0600 by root.
func SecureFile(string) error { return nil }

// CreatePrivate creates (or truncates) the file at path, mode 0600.
func CreatePrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil { // an existing file keeps its mode otherwise
		f.Close()
		return nil, err
	}
	return f, nil
}
