//go:build !(linux || windows) || !cgo

package audio

import "context"

// Capture is an open microphone (not available in this build).
type Capture struct{}

// Open returns ErrUnsupported in this build.
func Open(device string) (*Capture, error) { return nil, ErrUnsupported }

// Name returns "".
func (c *Capture) Name() string { return "" }

// ReadFrame returns ErrUnsupported.
func (c *Capture) ReadFrame(ctx context.Context, frame []float32) error { return ErrUnsupported }

// Close does nothing.
func (c *Capture) Close() error { return nil }
