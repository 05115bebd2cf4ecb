//go:build !windows

package service

// SecureDir: elsewhere the service's directories get their modes where
// they are created (root-owned, 0700 for the state); nothing to do.
func SecureDir(string) error { return nil }

// SecureFile: elsewhere the files are written 0600 by root.
func SecureFile(string) error { return nil }
