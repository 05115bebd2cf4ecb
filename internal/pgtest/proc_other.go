//go:build !linux

package pgtest

import (
	"errors"
	"syscall"
)

type credentials struct{}

func credential(string) (*credentials, error) {
	return nil, errors.New("pgtest: the PostgreSQL tests run on Linux (Debian's postgresql package)")
}

func procAttr(*credentials, bool) *syscall.SysProcAttr { return nil }
