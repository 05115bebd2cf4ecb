package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestDeskUsers(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	must(t, s.EnsureDeskUser(ctx, "bob"))
	must(t, s.EnsureDeskUser(ctx, "alice"))
	s.now = func() time.Time { return t0.Add(time.Hour) }
	must(t, s.EnsureDeskUser(ctx, "bob")) // idempotent: keeps its first time
	wantErr(t, s.EnsureDeskUser(ctx, ""), ErrInvalid)
	us, err := s.DeskUsers(ctx)
	must(t, err)
	if len(us) != 2 || us[0].Name != "alice" || us[1].Name != "bob" || !us[1].CreatedAt.Equal(t0) {
		t.Fatalf("DeskUsers = %+v", us)
	}
	for name, want := range map[string]bool{"alice": true, "bob": true, "Bob": false, "carol": false} {
		got, err := s.DeskUserExists(ctx, name)
		must(t, err)
		if got != want {
			t.Errorf("DeskUserExists(%q) = %v", name, got)
		}
	}
}

func TestMappings(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	must(t, s.SetMapping(ctx, Mapping{OSUser: `CORP\JDoe`, DeskUser: "john.doe"}, entry("mapping.set", "john.doe")))
	must(t, s.SetMapping(ctx, Mapping{OSUser: "Ann@Corp.Example", DeskUser: "ann", CreatedAt: t0.Add(time.Minute)}, entry("mapping.set", "ann")))

	m, err := s.Mapping(ctx, `corp\jdoe`)
	must(t, err)
	if m.OSUser != `corp\jdoe` || m.DeskUser != "john.doe" || !m.CreatedAt.Equal(t0) {
		t.Fatalf("Mapping = %+v", m)
	}
	_, err = s.Mapping(ctx, "jdoe") // the key is the whole name, folded
	wantErr(t, err, ErrNotFound)

	// Setting again replaces.
	must(t, s.SetMapping(ctx, Mapping{OSUser: `corp\JDOE`, DeskUser: "jd"}, entry("mapping.set", "jd")))
	ms, err := s.Mappings(ctx)
	must(t, err)
	if len(ms) != 2 || ms[0].OSUser != "ann@corp.example" || ms[1].OSUser != `corp\jdoe` || ms[1].DeskUser != "jd" {
		t.Fatalf("Mappings = %+v", ms)
	}
	wantErr(t, s.SetMapping(ctx, Mapping{OSUser: "x"}, entry("mapping.set", "")), ErrInvalid)

	must(t, s.DeleteMapping(ctx, "ANN@corp.example", entry("mapping.deleted", "")))
	wantErr(t, s.DeleteMapping(ctx, "ann@corp.example", entry("mapping.deleted", "")), ErrNotFound)
	ms, _ = s.Mappings(ctx)
	if len(ms) != 1 {
		t.Fatalf("Mappings after delete = %+v", ms)
	}
	es, _ := s.AuditEntries(ctx, AuditFilter{})
	if len(es) != 4 {
		t.Fatalf("%d audit entries, want 4 (3 sets, 1 delete)", len(es))
	}
}

func TestUnmapped(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	note := func(osUser, host string, at time.Time) error {
		_, err := s.NoteUnmapped(ctx, UnmappedUser{OSUser: osUser, Host: host, DeviceID: "d-" + host, LastSeenAt: at}, UnmappedBounds{})
		return err
	}
	must(t, note("Guest", "ws-1", t0))
	must(t, note("kiosk", "ws-9", t0.Add(time.Second)))
	must(t, note("guest", "ws-2", t0.Add(time.Minute)))
	must(t, note("GUEST", "ws-old", t0.Add(30*time.Second))) // older: ignored
	wantErr(t, note("", "ws", t0), ErrInvalid)

	us, err := s.Unmapped(ctx)
	must(t, err)
	if len(us) != 2 {
		t.Fatalf("Unmapped = %+v", us)
	}
	g := us[0]
	if g.OSUser != "guest" || g.Host != "ws-2" || !g.FirstSeenAt.Equal(t0) || !g.LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("guest = %+v", g)
	}
	must(t, s.ForgetUnmapped(ctx, "Guest"))
	wantErr(t, s.ForgetUnmapped(ctx, "guest"), ErrNotFound)

	// Mapping an OS user takes it off the list.
	must(t, s.SetMapping(ctx, Mapping{OSUser: "KIOSK", DeskUser: "frontdesk"}, entry("mapping.set", "frontdesk")))
	us, _ = s.Unmapped(ctx)
	if len(us) != 0 {
		t.Fatalf("Unmapped after mapping = %+v", us)
	}
}

// Ever new names from one device keep its rows at the per-device bound,
// and several devices keep the list at the total bound; the oldest go.
func TestUnmappedIsBounded(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	b := UnmappedBounds{PerDevice: 3, Total: 5}
	var dropped int64
	for i := range 10 {
		n, err := s.NoteUnmapped(ctx, UnmappedUser{OSUser: fmt.Sprintf("u%d", i), Host: "ws-a", DeviceID: "a", LastSeenAt: t0.Add(time.Duration(i) * time.Second)}, b)
		must(t, err)
		dropped += n
	}
	us, err := s.Unmapped(ctx)
	must(t, err)
	if len(us) != 3 || us[0].OSUser != "u9" || us[2].OSUser != "u7" || dropped != 7 {
		t.Fatalf("after 10 names from one device: %d dropped, list %+v", dropped, us)
	}
	// Seeing a listed name again grows nothing and drops nothing.
	if n, err := s.NoteUnmapped(ctx, UnmappedUser{OSUser: "u8", Host: "ws-a", DeviceID: "a", LastSeenAt: t0.Add(time.Minute)}, b); err != nil || n != 0 {
		t.Fatalf("seen again: %d dropped, %v", n, err)
	}
	for i, dev := range []string{"b", "c", "d"} {
		_, err := s.NoteUnmapped(ctx, UnmappedUser{OSUser: "v" + dev, Host: "ws-" + dev, DeviceID: dev, LastSeenAt: t0.Add(time.Hour + time.Duration(i)*time.Second)}, b)
		must(t, err)
	}
	us, _ = s.Unmapped(ctx)
	if len(us) != 5 || us[3].OSUser != "u8" || us[4].OSUser != "u9" { // u7, the oldest, went
		t.Fatalf("after 3 more devices, want the 5 newest: %+v", us)
	}
}
