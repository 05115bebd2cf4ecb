package loadgen

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultNext(t *testing.T) {
	urls := []string{"http://127.0.0.1:808", "http://127.0.0.1:8081", "https://b.example:8443"}
	for _, tc := range []struct{ current, reason, want string }{
		// A standby names the leader, by any scheme.
		{urls[0], "not the leader; the leader is wss://b.example:8443", urls[2]},
		{urls[2], "not the leader; the leader is ws://127.0.0.1:8081", urls[1]},
		{urls[1], "not the leader; the leader is http://127.0.0.1:808", urls[0]},
		// 127.0.0.1:8081 is not 127.0.0.1:808.
		{urls[2], "the leader is ws://127.0.0.1:8081/agent/v1/ws", urls[1]},
		// A leader not among the URLs, or none named: the next one.
		{urls[0], "not the leader; the leader is wss://c.example:8443", urls[1]},
		{urls[2], "going away", urls[0]},
		{"http://elsewhere:1", "", urls[0]},
	} {
		if got := defaultNext(urls, tc.current, tc.reason); got != tc.want {
			t.Errorf("defaultNext(from %s, %q) = %s, want %s", tc.current, tc.reason, got, tc.want)
		}
	}
}

func TestParseDispatch(t *testing.T) {
	d, err := parseDispatch(strings.NewReader(`# TYPE vigil_decision_latency_seconds histogram
vigil_decision_latency_seconds_bucket{le="0.001"} 10
vigil_decision_latency_seconds_bucket{le="0.0025"} 60
vigil_decision_latency_seconds_bucket{le="0.005"} 98
vigil_decision_latency_seconds_bucket{le="0.01"} 99
vigil_decision_latency_seconds_bucket{le="+Inf"} 100
vigil_decision_latency_seconds_sum 0.3
vigil_decision_latency_seconds_count 100
`))
	if err != nil || d.N != 100 || d.P50 != 2500*time.Microsecond || d.P99 != 10*time.Millisecond || d.Over {
		t.Errorf("parseDispatch = %+v, %v; want n 100, p50 2.5 ms, p99 10 ms", d, err)
	}
}
