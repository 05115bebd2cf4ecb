//go:build linux

package testrig

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// Screenshot saves the whole screen of an X display (e.g. ":3") as a PNG,
// for a person to look at what a test left on screen. It reads the root
// window with GetImage, so it needs no tool besides the X server, and
// handles the 24/32-bit TrueColor screens Xvfb gives (-screen WxHx24).
func Screenshot(display, path string) error {
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		return fmt.Errorf("connect to X display %s: %w", display, err)
	}
	defer conn.Close()
	screen := xproto.Setup(conn).DefaultScreen(conn)
	w, h := int(screen.WidthInPixels), int(screen.HeightInPixels)
	reply, err := xproto.GetImage(conn, xproto.ImageFormatZPixmap, xproto.Drawable(screen.Root),
		0, 0, uint16(w), uint16(h), 0xffffffff).Reply()
	if err != nil {
		return fmt.Errorf("read the screen of %s: %w", display, err)
	}
	if reply.Depth != 24 && reply.Depth != 32 || len(reply.Data) < w*h*4 {
		return fmt.Errorf("screen of %s: depth %d with %d bytes for %dx%d: not a 32-bit-per-pixel TrueColor screen",
			display, reply.Depth, len(reply.Data), w, h)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		p := reply.Data[i*4 : i*4+4] // little-endian BGRX
		img.Set(i%w, i/w, color.RGBA{R: p[2], G: p[1], B: p[0], A: 0xff})
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return f.Close()
}
