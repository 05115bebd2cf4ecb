package loadgen

import "testing"

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
