package bwe

import (
	"testing"

	"github.com/pion/rtcp"
)

// link simulates a path of a given capacity with a FIFO queue and random-free loss: packets sent
// at the sender's rate arrive when the bottleneck has carried everything before them. Every
// feedbackEvery it reports what arrived, as a subscriber's browser would.
type link struct {
	e        *Estimator
	now      int64 // ns
	capacity float64
	lossEach int // drop every lossEach-th packet (0: none)

	seq         uint16
	busyUntil   int64
	pending     []pkt
	lastFB      int64
	sentPackets int
}

type pkt struct {
	seq     uint16
	arrival int64
	lost    bool
}

const (
	packetSize    = 1200
	feedbackEvery = 50e6
)

// run sends at rate (bit/s) for d ns.
func (l *link) run(rate float64, d int64) {
	gap := int64(packetSize * 8 / rate * 1e9)
	end := l.now + d
	for ; l.now < end; l.now += gap {
		l.e.history.add(l.seq, l.now, packetSize)
		l.sentPackets++
		p := pkt{seq: l.seq}
		l.seq++
		if l.lossEach > 0 && l.sentPackets%l.lossEach == 0 {
			p.lost = true
		} else {
			start := max(l.now, l.busyUntil)
			l.busyUntil = start + int64(packetSize*8/l.capacity*1e9)
			p.arrival = l.busyUntil + 20e6 // plus a 20 ms path
		}
		l.pending = append(l.pending, p)
		if l.now-l.lastFB >= feedbackEvery {
			l.feedback()
			l.lastFB = l.now
		}
	}
}

// feedback reports the pending packets that have arrived by now (and the lost ones before them).
func (l *link) feedback() {
	n := 0
	for n < len(l.pending) && (l.pending[n].lost || l.pending[n].arrival <= l.now) {
		n++
	}
	if n == 0 {
		return
	}
	at := make([]int64, n)
	for i, p := range l.pending[:n] {
		at[i] = p.arrival
	}
	pending := l.pending
	b := feedbackFor(pending[0].seq, at, func(i int) bool { return pending[i].lost })
	l.pending = l.pending[n:]
	if !l.e.onFeedback(b, l.now) {
		panic("feedback refused")
	}
}

func (l *link) estimate() int {
	r, _ := l.e.Estimate()
	return r
}

func TestEstimateGrowsOnAClearPath(t *testing.T) {
	l := &link{e: NewEstimator(Config{Initial: 1_000_000, Min: 50_000, Max: 20_000_000}), now: 1e9, capacity: 50e6}
	if r, limit := l.e.Estimate(); r != 1_000_000 || limit {
		t.Fatalf("before feedback: %d, %v; want the initial 1000000, not a limit", r, limit)
	}
	l.run(800_000, 10e9)
	if _, limit := l.e.Estimate(); limit {
		t.Fatal("a path that never congested gives a limit")
	}
	t.Logf("clear path: %d after 10 s", l.estimate())
	// 8% a second for 10 s: about 2.1x.
	if r := l.estimate(); r < 1_800_000 || r > 2_500_000 {
		t.Fatalf("after 10 s on a clear path: %d bit/s, want about 2.1 Mbit/s", r)
	}
}

func TestEstimateFallsWhenQueuesGrow(t *testing.T) {
	l := &link{e: NewEstimator(Config{Initial: 3_000_000, Min: 50_000, Max: 20_000_000}), now: 1e9, capacity: 1e6}
	l.run(2_500_000, 2e9) // 2.5 Mbit/s into a 1 Mbit/s bottleneck
	t.Logf("2.5 Mbit/s into 1 Mbit/s: estimate %d after 2 s (state %d)", l.estimate(), l.e.trend.state)
	if _, limit := l.e.Estimate(); limit {
		t.Fatal("growing queues alone made the estimate a limit")
	}
	if r := l.estimate(); r > 1_100_000 {
		t.Fatalf("sending 2.5 Mbit/s over 1 Mbit/s for 2 s: estimate %d, want at most about the capacity", r)
	}
	// Sending under the capacity, once the queue drains, it grows again.
	before := l.estimate()
	l.run(500_000, 10e9)
	if r := l.estimate(); r <= before {
		t.Fatalf("after the queue drained: estimate %d, not above %d", r, before)
	}
}

func TestEstimateFollowsLoss(t *testing.T) {
	l := &link{e: NewEstimator(Config{Initial: 2_000_000, Min: 50_000, Max: 20_000_000}), now: 1e9, capacity: 50e6, lossEach: 3}
	l.run(1_000_000, 2e9) // a third lost
	low := l.estimate()
	t.Logf("a third lost: %d after 2 s, loss %.2f", low, l.e.Loss())
	if _, limit := l.e.Estimate(); !limit {
		t.Fatal("a path losing a third gives no limit")
	}
	if low > 1_000_000 {
		t.Fatalf("with a third of the packets lost for 2 s: estimate %d, want under 1 Mbit/s", low)
	}
	if loss := l.e.Loss(); loss < 0.25 || loss > 0.4 {
		t.Fatalf("loss %.2f, want about 0.33", loss)
	}
	l.lossEach = 25 // 4%, between lossLow and lossHigh: hold, once the last losses of before have counted (lossGrace)
	l.run(300_000, 1e9)
	low = l.estimate()
	l.run(300_000, 2e9)
	if r := l.estimate(); r < low*9/10 || r > low*11/10 {
		t.Fatalf("at 4%% loss: estimate %d, want it held near %d", r, low)
	}
	l.lossEach = 0
	l.run(300_000, 5e9)
	if r := l.estimate(); r < low*13/10 {
		t.Fatalf("5 s after the loss cleared: estimate %d, want it grown from %d", r, low)
	}
}

func TestEstimateStaysInBounds(t *testing.T) {
	l := &link{e: NewEstimator(Config{Initial: 1_000_000, Min: 200_000, Max: 1_500_000}), now: 1e9, capacity: 50e6}
	l.run(500_000, 20e9)
	if r := l.estimate(); r != 1_500_000 {
		t.Fatalf("estimate %d, want the maximum 1500000", r)
	}
	l.lossEach = 2
	l.run(500_000, 20e9)
	if r := l.estimate(); r != 200_000 {
		t.Fatalf("estimate %d, want the minimum 200000", r)
	}
}

func TestFeedbackForUnknownPacketsIsIgnored(t *testing.T) {
	e := NewEstimator(Config{Initial: 1_000_000, Min: 50_000, Max: 20_000_000})
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: 500, PacketStatusCount: 3,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 3}}}
	b, err := marshal(fb)
	if err != nil {
		t.Fatal(err)
	}
	if !e.onFeedback(b, 2e9) {
		t.Fatal("a well-formed feedback was refused")
	}
	if r, ok := e.Estimate(); r != 1_000_000 || ok {
		t.Fatalf("after feedback about packets never sent: %d, %v", r, ok)
	}
	// A malformed report (chunks or deltas cut off) is refused, and does not panic.
	for cut := 1; cut < len(b); cut++ {
		e.onFeedback(b[:cut], 2e9)
	}
}

func TestHistoryDoesNotAllocate(t *testing.T) {
	var h History
	n := testing.AllocsPerRun(1000, func() { h.add(1, 2, 3) })
	if n != 0 {
		t.Fatalf("History.add allocates %v times", n)
	}
}

// marshal is Pion's marshalling of a feedback, with the header Pion's TWCC interceptor gives it.
func marshal(fb *rtcp.TransportLayerCC) ([]byte, error) {
	unpadded := 20 + 2*len(fb.PacketChunks)
	for _, d := range fb.RecvDeltas {
		unpadded += int(d.Type) // 1 byte for a small delta, 2 for a large one
	}
	fb.Header = rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback,
		Padding: unpadded%4 != 0, Length: uint16(fb.MarshalSize()/4 - 1)}
	return fb.Marshal()
}

// reorderingReceiver reports like Chrome and Pion: every feedback covers the packets up to the
// newest arrival, those not there yet marked lost; when a late one arrives, the next feedback
// starts again from it. Every fifth packet here comes late, after the feedback that covered it.
func runReordering(t *testing.T, e *Estimator, lateArrives bool) {
	t.Helper()
	now := int64(1e9)
	var seq uint16
	for range 100 { // 100 rounds of 20 packets, 50 ms apart: 5 s
		base := seq
		var at [20]int64
		for i := range at {
			e.history.add(seq, now, packetSize)
			at[i] = now + 20e6
			now += 2_500_000
			seq++
		}
		late := func(i int) bool { return i%5 == 2 }
		first := feedbackFor(base, at[:], late)
		if !e.onFeedback(first, now) {
			t.Fatal("feedback refused")
		}
		if lateArrives { // the late ones arrive; feedback restarts from the first of them
			all := feedbackFor(base+2, at[2:], func(int) bool { return false })
			if !e.onFeedback(all, now+5e6) {
				t.Fatal("feedback refused")
			}
		}
		now += 5e6
	}
}

// feedbackFor is a transport-wide feedback for packets base, base+1, ... arriving at at[i],
// those for which missing(i) says so reported not received.
func feedbackFor(base uint16, at []int64, missing func(int) bool) []byte {
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: base, PacketStatusCount: uint16(len(at))}
	var ref int64 = -1
	prev := int64(0)
	for i, a := range at {
		sym := uint16(rtcp.TypeTCCPacketNotReceived)
		if !missing(i) {
			sym = rtcp.TypeTCCPacketReceivedLargeDelta
			if ref < 0 {
				ref = a / referenceUnit
				fb.ReferenceTime = uint32(ref)
				prev = ref * referenceUnit
			}
			units := (a - prev) / 250_000
			prev += units * 250_000
			fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: sym, Delta: units * 250})
		}
		fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: sym, RunLength: 1})
	}
	b, err := marshal(fb)
	if err != nil {
		panic(err)
	}
	return b
}

// TestLateArrivalsAreNotLoss: packets reported lost and then, in a later feedback, received
// are not losses. Counted as losses (a fifth of everything here), they made the estimate a
// limit and paused video on receivers that were only slow to read (docs/performance.md).
func TestLateArrivalsAreNotLoss(t *testing.T) {
	e := NewEstimator(Config{Initial: 1_000_000, Min: 50_000, Max: 20_000_000})
	runReordering(t, e, true)
	if _, limit := e.Estimate(); limit || e.Loss() > 0.02 {
		t.Fatalf("late arrivals: loss %.2f, limit %v; want no loss and no limit", e.Loss(), limit)
	}
	// The same feedback without the late ones arriving is real loss.
	e = NewEstimator(Config{Initial: 1_000_000, Min: 50_000, Max: 20_000_000})
	runReordering(t, e, false)
	if _, limit := e.Estimate(); !limit || e.Loss() < 0.15 {
		t.Fatalf("a fifth lost: loss %.2f, limit %v; want about 0.2 and a limit", e.Loss(), limit)
	}
}
