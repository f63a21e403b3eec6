package sfu

import (
	"slices"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func TestNackTracker(t *testing.T) {
	var tr nackTracker
	at := int64(1000 * ms)
	step := func(seq uint16, dt int64) []uint16 {
		at += dt
		return slices.Clone(tr.arrived(seq, at))
	}
	for s := uint16(65530); s != 3; s++ { // in order, across the wrap: nothing to NACK
		if got := step(s, ms); len(got) != 0 {
			t.Fatalf("in order: NACK %v at %d", got, s)
		}
	}
	// 3 and 4 are lost; 5 comes at once: too early to tell a loss from reordering.
	if got := step(5, ms); len(got) != 0 {
		t.Fatalf("NACK %v before the reordering wait", got)
	}
	if got := step(6, 10*ms); !slices.Equal(got, []uint16{3, 4}) {
		t.Fatalf("NACK %v, want [3 4]", got)
	}
	if got := step(7, 10*ms); len(got) != 0 {
		t.Fatalf("NACK %v again within the interval", got)
	}
	// 4 is repaired; 3 is asked for twice more, then given up.
	if got := step(4, ms); len(got) != 0 {
		t.Fatalf("NACK %v on a retransmission", got)
	}
	if got := step(8, 100*ms); !slices.Equal(got, []uint16{3}) {
		t.Fatalf("second NACK %v, want [3]", got)
	}
	if got := step(9, 100*ms); !slices.Equal(got, []uint16{3}) {
		t.Fatalf("third NACK %v, want [3]", got)
	}
	for s := uint16(10); s < 20; s++ {
		if got := step(s, 100*ms); len(got) != 0 {
			t.Fatalf("NACK %v after %d NACKs", got, maxResends)
		}
	}
	// A packet that was only reordered ends its loss before any NACK.
	step(22, ms)
	if got := step(20, ms); len(got) != 0 {
		t.Fatalf("NACK %v", got)
	}
	if got := step(23, 20*ms); !slices.Equal(got, []uint16{21}) {
		t.Fatalf("NACK %v, want [21]", got)
	}
	// A jump is a restart, not 1000 losses.
	if got := step(23+1000, 20*ms); len(got) != 0 {
		t.Fatalf("NACK %v after a jump", got)
	}
	if len(tr.missing) != 0 {
		t.Fatalf("still missing after a jump: %v", tr.missing)
	}
	// A burst of losses tracks at most maxMissing, the newest.
	base := uint16(23 + 1000)
	step(base+1+200, ms)
	got := step(base+202, 10*ms)
	if len(got) != maxMissing || got[len(got)-1] != base+200 {
		t.Fatalf("a burst of 200 losses: %d NACKed, last %d", len(got), got[len(got)-1])
	}
}

func TestNackTrackerDoesNotAllocate(t *testing.T) {
	var tr nackTracker
	seq, at := uint16(0), int64(0)
	tr.arrived(seq, at)
	n := testing.AllocsPerRun(1000, func() {
		seq += 2 // one lost every other packet
		at += 20 * ms
		tr.arrived(seq, at)
	})
	if n != 0 {
		t.Fatalf("arrived allocates %v times", n)
	}
}
