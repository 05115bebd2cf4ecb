package coordinator

import (
	"context"
	"errors"
	"time"

	"github.com/vigil-cc/vigil/coordinator/hub"
	"github.com/vigil-cc/vigil/coordinator/secret"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// directory answers the hub from the store.
type directory struct {
	st  *store.Store
	now func() time.Time
}

func (d directory) Device(ctx context.Context, token string) (hub.Device, error) {
	dev, err := d.st.DeviceByTokenHash(ctx, secret.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		return hub.Device{}, hub.ErrUnknownDevice
	}
	if err != nil {
		return hub.Device{}, err
	}
	if err := d.st.TouchDevice(ctx, dev.ID, d.now()); err != nil {
		return hub.Device{}, err
	}
	return hub.Device{ID: dev.ID, Host: dev.Host, Approved: dev.Status == store.DeviceApproved, Status: string(dev.Status)}, nil
}

func (d directory) ResolveUser(ctx context.Context, osUser string) (string, bool, error) {
	m, err := d.st.Mapping(ctx, username.Fold(osUser))
	switch {
	case err == nil:
		return m.DeskUser, true, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", false, err
	}
	name := username.Bare(osUser)
	if name == "" {
		return "", false, nil
	}
	ok, err := d.st.DeskUserExists(ctx, name)
	return name, ok, err
}

func (d directory) Unmapped(ctx context.Context, osUser, host, deviceID string, at time.Time) (bool, error) {
	n, err := d.st.NoteUnmapped(ctx, store.UnmappedUser{OSUser: osUser, Host: host, DeviceID: deviceID, LastSeenAt: at}, store.UnmappedBounds{})
	return n > 0, err
}

func (d directory) Audit(ctx context.Context, kind, user string, detail map[string]any) error {
	e := system(d.now(), kind, detail)
	e.User = user
	_, err := d.st.Audit(ctx, e)
	return err
}
