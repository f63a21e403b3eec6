package sfu

import (
	"testing"
	"time"
)

// TestReceptionCountsLossAcrossWrap feeds a stream whose sequence numbers wrap, with some
// packets missing, and checks the report blocks a publisher would read its loss from.
func TestReceptionCountsLossAcrossWrap(t *testing.T) {
	var r reception
	const rate = 90000
	now := int64(time.Second)
	seq, ts := uint16(65530), uint32(1000)
	send := func(n int, lose func(i int) bool) {
		for i := range n {
			if lose == nil || !lose(i) {
				r.arrived(seq, ts, now, rate)
			}
			seq++
			ts += 2970 // 33 ms at 90 kHz
			now += int64(33 * time.Millisecond)
		}
	}
	send(100, nil) // wraps after 6 packets
	b, ok := r.block(7, now)
	if !ok {
		t.Fatal("no report block after 100 packets")
	}
	if want := uint32(1<<16 | 93); b.LastSequenceNumber != want {
		t.Errorf("extended highest sequence number %#x, want %#x (one wrap)", b.LastSequenceNumber, want)
	}
	if b.TotalLost != 0 || b.FractionLost != 0 {
		t.Errorf("lost %d (%d/256) of a complete stream", b.TotalLost, b.FractionLost)
	}
	if b.Jitter > 10 {
		t.Errorf("jitter %d RTP units for packets exactly on time", b.Jitter)
	}

	send(100, func(i int) bool { return i%10 == 0 }) // 10 of 100 lost
	b, _ = r.block(7, now)
	if b.TotalLost != 10 {
		t.Errorf("total lost %d, want 10", b.TotalLost)
	}
	if want := uint8(10 * 256 / 100); b.FractionLost != want {
		t.Errorf("fraction lost %d/256, want %d/256 (10%% of this interval)", b.FractionLost, want)
	}

	if _, ok := r.block(7, now); ok {
		t.Error("a report block for an interval in which nothing arrived")
	}

	// A late packet (reordered) does not move the highest sequence number back.
	r.arrived(seq-50, ts, now, rate)
	b, _ = r.block(7, now)
	if want := uint32(1<<16 | uint32(seq-1)); b.LastSequenceNumber != want {
		t.Errorf("after a late packet, highest %#x, want %#x", b.LastSequenceNumber, want)
	}
}

// TestReceptionJitter checks the interarrival jitter of packets that arrive 10 ms early and
// late by turns: RFC 3550's estimate converges to the mean deviation, 20 ms in RTP units.
func TestReceptionJitter(t *testing.T) {
	var r reception
	const rate = 90000
	for i := range 500 {
		at := int64(i) * int64(33*time.Millisecond)
		if i%2 == 1 {
			at += int64(20 * time.Millisecond)
		}
		r.arrived(uint16(i), uint32(i*2970), at+int64(time.Second), rate)
	}
	b, _ := r.block(1, 0)
	if want := uint32(rate / 50); b.Jitter < want*9/10 || b.Jitter > want*11/10 {
		t.Errorf("jitter %d RTP units, want about %d (20 ms)", b.Jitter, want)
	}
}

// TestSenderClock checks the sender report's RTP time: the newest timestamp, run on by the time
// since it was sent.
func TestSenderClock(t *testing.T) {
	var c senderClock
	sent := int64(5 * time.Hour)
	c.set(4_000_000_000, sent)
	got := c.at(sent+int64(500*time.Millisecond), 90000)
	if want := uint32(4_000_000_000 + 45000); int32(got-want) < -10 || int32(got-want) > 10 {
		t.Errorf("RTP time 500 ms after the newest packet %d, want %d", got, want)
	}
}
