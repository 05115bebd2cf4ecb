package protocol

import "testing"

var benchReading = Reading{Session: "seat0:c2", IdleMS: 183_250, AgentDeskForeground: true, MicAvailable: true}

func BenchmarkDecodeReading(b *testing.B) {
	frame, err := Encode(benchReading)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := DecodeFromAgent(frame)
		if err != nil || m != benchReading {
			b.Fatal(m, err)
		}
	}
}

func BenchmarkEncodeReading(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(benchReading); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInvalidReading(b *testing.B) {
	frame := []byte(`{"type":"reading","session":"seat0:c2","idle_ms":12.5,"agent_desk_foreground":true,` +
		`"agent_desk_minimized":false,"screen_locked":false,"mic_available":true,"voice":false}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFromAgent(frame); err == nil {
			b.Fatal("accepted")
		}
	}
}
