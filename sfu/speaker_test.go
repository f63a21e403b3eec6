package sfu

import "testing"

func TestSpeakerStateHoldAndSwitch(t *testing.T) {
	var s speakerState
	step := func(alice, bob float64) (string, bool) {
		changed := s.update(map[string]float64{"alice": alice, "bob": bob})
		return s.current, changed
	}
	// Nobody speaks: no speaker.
	if cur, ch := step(0, 0); cur != "" || ch {
		t.Fatalf("silence made %q the speaker", cur)
	}
	// alice speaks while nobody has the floor: she takes it at once.
	if cur, ch := step(100, 0); cur != "alice" || !ch {
		t.Fatalf("the first voice in the room: speaker is %q (changed %v), want alice", cur, ch)
	}
	step(100, 0)
	// bob, as loud as alice, does not take the floor from her: he must be clearly louder.
	for i := 0; i < 4; i++ {
		if cur, _ := step(100, 100); cur != "alice" {
			t.Fatalf("bob, no louder than alice, took the floor (%q)", cur)
		}
	}
	// One loud tick of bob (a cough) does not take the floor.
	step(20, 110)
	if cur, _ := step(100, 0); cur != "alice" {
		t.Fatalf("a one-tick noise from bob moved the speaker to %q", cur)
	}
	// alice falls silent: she stays the speaker through the pause.
	for i := 0; i < 5; i++ {
		if cur, ch := step(0, 0); cur != "alice" || ch {
			t.Fatalf("silence moved the speaker away from alice to %q", cur)
		}
	}
	// bob speaks for real: he takes over.
	step(0, 100)
	step(0, 100)
	if cur, _ := step(0, 100); cur != "bob" {
		t.Fatalf("bob spoke for 3 ticks; speaker is %q", cur)
	}
	if !s.forget("bob") || s.current != "" {
		t.Fatal("forgetting the speaker did not clear it")
	}
}

func TestLevelMeter(t *testing.T) {
	var m levelMeter
	if m.take() != 0 {
		t.Fatal("an empty meter is not silent")
	}
	m.add(27)        // -27 dBov: loudness 100
	m.add(0x80 | 67) // voice-activity bit set, -67 dBov: loudness 60
	if got := m.take(); got != 80 {
		t.Fatalf("mean loudness = %v, want 80", got)
	}
	if m.take() != 0 {
		t.Fatal("take did not reset the meter")
	}
}
