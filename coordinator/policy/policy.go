// Package policy holds the inactivity policy in force (Admin > Agent Desk
// Settings): it validates changes, stores them with their audit entry, and
// applies them live to the engine and every agent.
package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/protocol"
)

// Validate reports what is wrong with s, in words an admin can act on.
func Validate(s store.Settings) error {
	if err := EngineSettings(s).Validate(); err != nil {
		return err
	}
	if n := len([]rune(s.TitlePattern)); n == 0 || n > protocol.MaxTitlePatternLen {
		return fmt.Errorf("Agent Desk title pattern must be 1 to %d characters", protocol.MaxTitlePatternLen)
	}
	if _, err := regexp.Compile(s.TitlePattern); err != nil {
		return fmt.Errorf("Agent Desk title pattern is not a valid regular expression: %v", err)
	}
	return nil
}

// Document is the settings as the API and the audit show them.
type Document struct {
	InactivityTimeout *TimeoutSection   `json:"inactivity_timeout,omitempty"`
	AgentDesk         *AgentDeskSection `json:"agent_desk,omitempty"`
}

// TimeoutSection is the Inactivity Timeout toggle and duration.
type TimeoutSection struct {
	Enabled bool `json:"enabled"`
	Seconds int  `json:"seconds"`
}

// AgentDeskSection says how sensors recognise the Agent Desk window.
type AgentDeskSection struct {
	TitlePattern string `json:"title_pattern"`
}

// DocumentOf returns s as a complete document.
func DocumentOf(s store.Settings) Document {
	return Document{
		InactivityTimeout: &TimeoutSection{Enabled: s.Enabled, Seconds: s.TimeoutSeconds},
		AgentDesk:         &AgentDeskSection{TitlePattern: s.TitlePattern},
	}
}

// Apply returns s with the sections d holds replaced.
func (d Document) Apply(s store.Settings) store.Settings {
	if t := d.InactivityTimeout; t != nil {
		s.Enabled, s.TimeoutSeconds = t.Enabled, t.Seconds
	}
	if a := d.AgentDesk; a != nil {
		s.TitlePattern = a.TitlePattern
	}
	return s
}

// EngineSettings is the engine's view of s.
func EngineSettings(s store.Settings) engine.Settings {
	return engine.Settings{Enabled: s.Enabled, Timeout: time.Duration(s.TimeoutSeconds) * time.Second}
}

// Policy is the policy in force.
type Policy struct {
	st        *store.Store
	core      *core.Core
	heartbeat time.Duration

	mu       sync.Mutex // serializes updates
	cur      store.Settings
	onChange []func()
}

// New returns the policy with the settings already loaded from st (and
// applied to the engine by the caller when it built it).
func New(st *store.Store, c *core.Core, cur store.Settings, heartbeat time.Duration) *Policy {
	return &Policy{st: st, core: c, cur: cur, heartbeat: heartbeat}
}

// OnChange registers fn to run after every applied change.
func (p *Policy) OnChange(fn func()) { p.onChange = append(p.onChange, fn) }

// Settings returns the settings in force.
func (p *Policy) Settings() store.Settings {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// Wire is the policy message for agents, stamped with the server's time.
func (p *Policy) Wire() protocol.Policy {
	s := p.Settings()
	return protocol.Policy{
		Enabled:      s.Enabled,
		TimeoutS:     s.TimeoutSeconds,
		WarnAtS:      s.TimeoutSeconds * 4 / 5,
		TitlePattern: s.TitlePattern,
		HeartbeatS:   int(p.heartbeat / time.Second),
		ServerTimeMS: p.core.Now().UnixMilli(),
	}
}

// Update validates s, stores it with an audit entry naming actor, and
// applies it to every session at once. Invalid settings change nothing.
func (p *Policy) Update(ctx context.Context, actor string, s store.Settings) error {
	if err := Validate(s); err != nil {
		return err
	}
	if changed, err := p.store(ctx, actor, s); err != nil || !changed {
		return err
	}
	for _, fn := range p.onChange {
		fn()
	}
	return nil
}

// Adopt applies s, which another replica saved (with its audit entry), to
// the engine and every agent, if it differs from the settings in force.
// The leader of several replicas polls the database with it.
func (p *Policy) Adopt(s store.Settings) {
	p.mu.Lock()
	if p.cur == s {
		p.mu.Unlock()
		return
	}
	p.cur = s
	es := EngineSettings(s)
	p.core.Do("", func(e *engine.Engine, now time.Time) []engine.Decision { return e.SetSettings(now, es) })
	p.mu.Unlock()
	for _, fn := range p.onChange {
		fn()
	}
}

// store saves and applies s, reporting whether anything changed.
func (p *Policy) store(ctx context.Context, actor string, s store.Settings) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cur
	if old == s {
		return false, nil
	}
	detail, _ := json.Marshal(map[string]any{"old": DocumentOf(old), "new": DocumentOf(s)})
	err := p.st.SaveSettings(ctx, s, store.AuditEntry{At: p.core.Now(), Actor: actor, Kind: "settings.changed", Detail: detail})
	if err != nil {
		return false, fmt.Errorf("saving settings: %w", err)
	}
	p.cur = s
	es := EngineSettings(s)
	p.core.Do("", func(e *engine.Engine, now time.Time) []engine.Decision { return e.SetSettings(now, es) })
	return true, nil
}
