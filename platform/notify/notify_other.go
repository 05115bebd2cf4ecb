//go:build !linux && !windows

package notify

import (
	"context"
	"time"
)

// Client would talk to the system's notification service (not implemented
// on this system yet).
type Client struct {
	AppName string
	Address string
	Now     func() time.Time
}

// Notify returns ErrUnsupported.
func (c *Client) Notify(ctx context.Context, replaces uint32, summary, body string, urgent bool) (uint32, error) {
	return 0, ErrUnsupported
}

// CloseNotification returns ErrUnsupported.
func (c *Client) CloseNotification(ctx context.Context, id uint32) error { return ErrUnsupported }

// Close does nothing.
func (c *Client) Close() error { return nil }
