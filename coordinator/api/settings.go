package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/vigil-cc/vigil/coordinator/policy"
	"github.com/vigil-cc/vigil/protocol"
)

func (a *API) getSettings(r *http.Request, _ actor) (any, error) {
	return policy.DocumentOf(a.Policy.Settings()), nil
}

// putSettings takes any subset of the sections, each complete. Anything the
// settings page could not have meant is refused and nothing changes.
func (a *API) putSettings(r *http.Request, who actor) (any, error) {
	var sections map[string]json.RawMessage
	if err := decodeStrict(r, &sections); err != nil {
		return nil, err
	}
	if len(sections) == 0 {
		return nil, errorf(http.StatusBadRequest, "the body must hold inactivity_timeout, agent_desk or both")
	}
	var doc policy.Document
	for name, raw := range sections {
		var err error
		switch name {
		case "inactivity_timeout":
			doc.InactivityTimeout, err = parseTimeout(raw)
		case "agent_desk":
			doc.AgentDesk, err = parseAgentDesk(raw)
		default:
			err = fmt.Errorf("unknown section %q: the sections are inactivity_timeout and agent_desk", name)
		}
		if err != nil {
			return nil, &Error{Status: http.StatusBadRequest, Msg: err.Error()}
		}
	}
	s := doc.Apply(a.Policy.Settings())
	if err := policy.Validate(s); err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Msg: err.Error()}
	}
	if err := a.Policy.Update(r.Context(), who.name, s); err != nil {
		return nil, err
	}
	return policy.DocumentOf(a.Policy.Settings()), nil
}

var secondsRange = fmt.Sprintf("a whole number from %d to %d", protocol.MinTimeoutS, protocol.MaxTimeoutS)

func parseTimeout(raw json.RawMessage) (*policy.TimeoutSection, error) {
	fields, err := members(raw, "inactivity_timeout", "enabled", "seconds")
	if err != nil {
		return nil, err
	}
	var t policy.TimeoutSection
	switch string(fields["enabled"]) {
	case "true":
		t.Enabled = true
	case "false":
	default:
		return nil, fmt.Errorf("inactivity_timeout.enabled must be true or false, got %s", fields["enabled"])
	}
	// A JSON number with no fraction or exponent: 12.5, 3e2, "300" and null
	// are all refused, never rounded or coerced.
	secs := fields["seconds"]
	n, err := strconv.Atoi(string(secs))
	if err != nil || n < protocol.MinTimeoutS || n > protocol.MaxTimeoutS {
		return nil, fmt.Errorf("inactivity_timeout.seconds must be %s, got %s", secondsRange, clip(secs))
	}
	t.Seconds = n
	return &t, nil
}

func parseAgentDesk(raw json.RawMessage) (*policy.AgentDeskSection, error) {
	fields, err := members(raw, "agent_desk", "title_pattern")
	if err != nil {
		return nil, err
	}
	var a policy.AgentDeskSection
	if err := json.Unmarshal(fields["title_pattern"], &a.TitlePattern); err != nil || bytes.Equal(fields["title_pattern"], []byte("null")) {
		return nil, fmt.Errorf("agent_desk.title_pattern must be a string (a regular expression), got %s", clip(fields["title_pattern"]))
	}
	return &a, nil
}

// members splits a section into exactly the named members, all required.
func members(raw json.RawMessage, section string, names ...string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%s must be an object with %v", section, names)
	}
	for k := range m {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return nil, fmt.Errorf("%s has an unknown field %q; its fields are %v", section, k, names)
		}
	}
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return nil, fmt.Errorf("%s.%s is missing", section, n)
		}
	}
	return m, nil
}

// clip quotes at most 40 bytes of a raw value back to the sender.
func clip(raw json.RawMessage) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}
