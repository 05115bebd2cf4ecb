package loadgen

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultNext(t *testing.T) {
	urls := []string{"http://127.0.0.1:808", "http://127.0.0.1:8081", "https://b.example:8443"}
	const nl, dropped, refused = closeNotLeader, 1006, -1
	for _, tc := range []struct {
		current string
		code    int
		reason  string
		want    string
	}{
		// A standby names the leader, by any scheme.
		{urls[0], nl, "not the leader; the leader is wss://b.example:8443", urls[2]},
		{urls[2], nl, "not the leader; the leader is ws://127.0.0.1:8081", urls[1]},
		{urls[1], nl, "not the leader; the leader is http://127.0.0.1:808", urls[0]},
		// 127.0.0.1:8081 is not 127.0.0.1:808.
		{urls[2], nl, "the leader is ws://127.0.0.1:8081/agent/v1/ws", urls[1]},
		// A leader not among the URLs, none named, or the standby itself
		// named: the next one.
		{urls[0], nl, "not the leader; the leader is wss://c.example:8443", urls[1]},
		{urls[0], nl, "not the leader", urls[1]},
		{urls[1], nl, "not the leader; the leader is ws://127.0.0.1:8081", urls[2]},
		// Anything but a standby's close moves on, whatever the words name:
		// the URL that stopped answering is not tried again at once.
		{urls[0], refused, "", urls[1]},
		{urls[0], dropped, "", urls[1]},
		{urls[0], refused, "dial tcp 127.0.0.1:808: connect: connection refused (was ws://127.0.0.1:808)", urls[1]},
		{urls[1], 4001, "unknown device token; the leader is ws://127.0.0.1:8081", urls[2]},
		{urls[2], 1001, "going away", urls[0]},
		{"http://elsewhere:1", dropped, "", urls[0]},
	} {
		if got := defaultNext(urls, tc.current, tc.code, tc.reason); got != tc.want {
			t.Errorf("defaultNext(from %s, %d %q) = %s, want %s", tc.current, tc.code, tc.reason, got, tc.want)
		}
	}
	// Every URL is tried in turn while none answers.
	seen, cur := map[string]bool{}, urls[0]
	for range urls {
		seen[cur] = true
		cur = defaultNext(urls, cur, refused, "")
	}
	if len(seen) != len(urls) || cur != urls[0] {
		t.Errorf("a dead coordinator after another: visited %v, back at %s", seen, cur)
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
