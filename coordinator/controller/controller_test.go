package controller

import (
	"strings"
	"testing"

	"github.com/vigil-cc/vigil/coordinator/engine"
)

func TestAny(t *testing.T) {
	ds := []engine.Decision{{Kind: engine.DecisionWarn}, {Kind: engine.DecisionSensorLost}}
	for _, tc := range []struct {
		kinds []engine.DecisionKind
		want  bool
	}{
		{[]engine.DecisionKind{engine.DecisionWarn}, true},
		{[]engine.DecisionKind{engine.DecisionLogout, engine.DecisionSensorLost}, true},
		{[]engine.DecisionKind{engine.DecisionLogout, engine.DecisionWithdraw}, false},
		{nil, false},
	} {
		if got := Any(ds, tc.kinds...); got != tc.want {
			t.Errorf("Any(warn+sensor lost, %v) = %v, want %v", tc.kinds, got, tc.want)
		}
	}
	if Any(nil, engine.DecisionWarn) {
		t.Error("Any(nil) = true")
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"": Builtin, "builtin": Builtin, "webhook": Webhook} {
		if got, err := ParseKind(in); got != want || err != nil {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ParseKind("zendesk")
	if err == nil || !strings.Contains(err.Error(), `Controller must be builtin or webhook, got "zendesk"`) {
		t.Errorf("ParseKind(zendesk) = %v", err)
	}
}
