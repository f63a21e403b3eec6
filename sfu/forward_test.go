package sfu

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func TestForwardRewritesPerSubscriber(t *testing.T) {
	up, _ := newTestUpTrack(t, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
	w1, w2 := newRecordingWriter(), newRecordingWriter()
	newTestDownTrack(t, up, 128, w1, testBinding{pt: 96, ssrc: 1111})
	newTestDownTrack(t, up, 128, w2, testBinding{pt: 100, ssrc: 2222})

	// Start near the wrap of both sequence number and timestamp.
	const firstSeq, firstTS = 65530, 0xffff0000
	s := newTestStream(firstSeq, firstTS)
	s.next(up, true)
	for i := 0; i < 50; i++ {
		s.next(up, false)
	}

	got := map[string][]sentPacket{"subscriber 1": w1.waitFor(t, 51), "subscriber 2": w2.waitFor(t, 51)}
	want := map[string]testBinding{"subscriber 1": {pt: 96, ssrc: 1111}, "subscriber 2": {pt: 100, ssrc: 2222}}
	for name, pkts := range got {
		if len(pkts) != 51 {
			t.Fatalf("%s received %d packets, want 51", name, len(pkts))
		}
		for k, p := range pkts {
			if !bytes.Equal(p.payload, s.in[k]) {
				t.Fatalf("%s: packet %d payload differs from the publisher's packet %d", name, k, k)
			}
			if p.ssrc != want[name].ssrc || p.pt != want[name].pt {
				t.Errorf("%s: packet %d has SSRC %d PT %d, want its binding's %d %d", name, k, p.ssrc, p.pt, want[name].ssrc, want[name].pt)
			}
			if p.ext {
				t.Errorf("%s: packet %d carries the publisher's header extension", name, k)
			}
			if !p.marker {
				t.Errorf("%s: packet %d lost its marker bit", name, k)
			}
		}
		checkContinuous(t, name, firstTS, pkts)
	}
	a, b := got["subscriber 1"][0], got["subscriber 2"][0]
	if a.seq == b.seq && a.ts == b.ts {
		t.Errorf("both subscribers start at sequence number %d and timestamp %d: offsets are not per subscriber", a.seq, a.ts)
	}
}

func TestVideoWaitsForKeyframe(t *testing.T) {
	up, plis := newTestUpTrack(t, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
	w := newRecordingWriter()
	newTestDownTrack(t, up, 128, w, testBinding{pt: 96, ssrc: 1234})

	s := newTestStream(1000, 5000)
	for i := 0; i < 10; i++ {
		s.next(up, false)
	}
	key := s.next(up, true)
	for i := 0; i < 10; i++ {
		s.next(up, false)
	}
	last := len(s.in) - 1

	pkts := w.waitFor(t, 11)
	// The writer handles its queue in order, so once the last packet arrived nothing else will.
	if len(pkts) != 11 {
		t.Fatalf("received %d packets, want 11: the keyframe and what followed", len(pkts))
	}
	if i := payloadIndex(pkts[0].payload); i != key || !isKeyframeStart(pkts[0].payload) {
		t.Fatalf("first packet received is the publisher's #%d, want the keyframe #%d: deltas before the first keyframe are undecodable", i, key)
	}
	if i := payloadIndex(pkts[10].payload); i != last {
		t.Fatalf("last packet received is #%d, want #%d", i, last)
	}
	checkContinuous(t, "subscriber", 5000, pkts)
	if n := plis.Load(); n < 1 {
		t.Errorf("%d keyframe requests sent to the publisher, want at least 1 for a new video subscriber", n)
	}
}

func TestAudioDoesNotWaitForKeyframe(t *testing.T) {
	up, plis := newTestUpTrack(t, webrtc.RTPCodecTypeAudio, webrtc.MimeTypeOpus)
	w := newRecordingWriter()
	newTestDownTrack(t, up, 128, w, testBinding{pt: 111, ssrc: 1234})
	s := newTestStream(1, 1)
	for i := 0; i < 5; i++ {
		s.next(up, false) // opus payloads never look like a keyframe to the audio path
	}
	if pkts := w.waitFor(t, 5); len(pkts) != 5 {
		t.Fatalf("audio subscriber received %d packets, want 5", len(pkts))
	}
	if n := plis.Load(); n != 0 {
		t.Errorf("%d keyframe requests for an audio track, want 0", n)
	}
}

// stallScenario forwards 500 packets, one every millisecond and a keyframe every 100, to a
// healthy subscriber and to one whose connection does not return from WriteRTP, then releases
// the stalled one.
type stallScenario struct {
	up      *UpTrack
	plis    *atomic.Int32
	s       *testStream
	healthy *recordingWriter
	stalled *blockingWriter
	slowD   *DownTrack
}

// newStallScenario runs the scenario; the SFU does not receive the publisher's packet #lost
// (none if lost < 0).
func newStallScenario(t *testing.T, lost int) *stallScenario {
	t.Helper()
	sc := &stallScenario{healthy: newRecordingWriter(), stalled: newBlockingWriter(), s: newTestStream(40000, 1234567)}
	sc.up, sc.plis = newTestUpTrack(t, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
	sc.slowD = newTestDownTrack(t, sc.up, 16, sc.stalled, testBinding{pt: 96, ssrc: 1})
	newTestDownTrack(t, sc.up, 128, sc.healthy, testBinding{pt: 96, ssrc: 2})

	const budget = 5 * time.Second // a hang detector: the loop itself takes about 0.5 s
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		for i := 0; i < 500; i++ {
			if i == lost {
				sc.s.lose(false)
			} else {
				sc.s.next(sc.up, i%100 == 0)
			}
			time.Sleep(time.Millisecond)
		}
		done <- time.Since(start)
	}()
	select {
	case d := <-done:
		if d > budget {
			t.Fatalf("forwarding 500 packets took %v with one subscriber stalled: forward waits for it", d)
		}
	case <-time.After(2 * budget):
		t.Fatalf("forwarding 500 packets did not finish within %v with one subscriber stalled: forward blocks on it", 2*budget)
	}

	want := 500
	if lost >= 0 {
		want--
	}
	pkts := sc.healthy.waitFor(t, want)
	if len(pkts) != want {
		t.Fatalf("healthy subscriber received %d packets, want all %d", len(pkts), want)
	}
	for k, p := range pkts {
		i := k
		if lost >= 0 && k >= lost {
			i++
		}
		if payloadIndex(p.payload) != i {
			t.Fatalf("healthy subscriber's packet %d is the publisher's #%d, want #%d", k, payloadIndex(p.payload), i)
		}
	}
	if lost < 0 {
		checkContinuous(t, "healthy subscriber", 1234567, pkts)
	}

	// Release the stalled connection and wait until its writer noticed what it missed: it asks
	// for a keyframe.
	before := sc.plis.Load()
	sc.stalled.release()
	pollUntil(t, "the stalled subscriber's keyframe request", func() bool { return sc.plis.Load() > before })
	pollUntil(t, "the stalled subscriber's queue to drain", func() bool { return len(sc.slowD.queue) == 0 })
	if n := sc.slowD.stats.dropped.Load(); n == 0 {
		t.Errorf("stalled subscriber: stats.dropped = 0 after missing most of 500 packets")
	}
	return sc
}

// waitUntil polls cond until it holds; for conditions that no channel signals.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(forwardWaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, forwardWaitTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStalledSubscriberDoesNotStallOthers(t *testing.T) {
	sc := newStallScenario(t, -1)

	// The publisher answers the keyframe request after a few more deltas.
	for i := 0; i < 10; i++ {
		sc.s.next(sc.up, false)
		time.Sleep(time.Millisecond)
	}
	key := sc.s.next(sc.up, true)
	for i := 0; i < 10; i++ {
		sc.s.next(sc.up, false)
	}
	last := len(sc.s.in) - 1

	pkts := sc.stalled.waitFor(t, 12)
	// What was in WriteRTP when the connection stalled comes out first: the very first packet.
	if i := payloadIndex(pkts[0].payload); i != 0 {
		t.Fatalf("stalled subscriber's first packet is the publisher's #%d, want #0 (in flight when it stalled)", i)
	}
	resumed := pkts[1:]
	if i := payloadIndex(resumed[0].payload); i != key || !isKeyframeStart(resumed[0].payload) {
		t.Fatalf("after the stall the subscriber resumed with the publisher's #%d (keyframe start %v), want the keyframe #%d",
			i, isKeyframeStart(resumed[0].payload), key)
	}
	if len(resumed) != 11 || payloadIndex(resumed[10].payload) != last {
		t.Fatalf("after the stall the subscriber received %d packets ending with #%d, want 11 ending with #%d",
			len(resumed), payloadIndex(resumed[len(resumed)-1].payload), last)
	}
	// No gap in sequence numbers across the drop, so the subscriber does not see loss to NACK,
	// and timestamps keep the offset they had.
	checkContinuous(t, "stalled subscriber", 1234567, pkts)
	if t.Failed() {
		return
	}
	if got := sc.healthy.waitFor(t, len(sc.s.in)); len(got) != len(sc.s.in) {
		t.Errorf("healthy subscriber received %d packets, want %d", len(got), len(sc.s.in))
	}
}

func TestLatePacketFromBeforeDropNotForwarded(t *testing.T) {
	// The SFU does not receive #300 in time: the healthy subscriber sees a gap there, the stalled
	// one misses it with all the others.
	const lateIdx = 300
	sc := newStallScenario(t, lateIdx)
	key := sc.s.next(sc.up, true)
	got := sc.stalled.waitFor(t, 2)
	if i := payloadIndex(got[1].payload); i != key {
		t.Fatalf("stalled subscriber resumed at #%d, want the keyframe #%d", i, key)
	}

	// Now #300 arrives, late: the publisher's retransmission. The healthy subscriber takes it at
	// its place, between #299 and #301. In the stalled subscriber's sequence that place is gone:
	// sent now, it would come after the keyframe and corrupt the picture.
	sc.s.resend(sc.up, 40000, 1234567, lateIdx)
	next := sc.s.next(sc.up, false)

	pkts := sc.stalled.waitFor(t, 3)
	if len(pkts) != 3 || payloadIndex(pkts[2].payload) != next {
		t.Fatalf("stalled subscriber's packets after the keyframe: %v, want only #%d", payloadIndices(pkts[2:]), next)
	}
	checkContinuous(t, "stalled subscriber", 1234567, pkts)

	h := sc.healthy.waitFor(t, len(sc.s.in))
	if len(h) != len(sc.s.in) {
		t.Fatalf("healthy subscriber received %d packets, want %d", len(h), len(sc.s.in))
	}
	late, before, after := h[len(h)-2], h[lateIdx-1], h[lateIdx]
	if payloadIndex(late.payload) != lateIdx || late.seq != before.seq+1 || after.seq != before.seq+2 || late.ts != before.ts+3000 {
		t.Errorf("healthy subscriber got the late packet as #%d seq %d ts %d between seq %d and %d, want #%d seq %d ts %d (the gap it left)",
			payloadIndex(late.payload), late.seq, late.ts, before.seq, after.seq, lateIdx, before.seq+1, before.ts+3000)
	}
}

func payloadIndices(pkts []sentPacket) []int {
	out := make([]int, len(pkts))
	for k, p := range pkts {
		out[k] = payloadIndex(p.payload)
	}
	return out
}

// waitForIndex waits until a packet of the publisher's #idx has been written on ssrc after the
// first from packets, and returns the packets written from there on.
func (w *recordingWriter) waitForIndex(t *testing.T, from, idx int, ssrc uint32) []sentPacket {
	t.Helper()
	for n := from + 1; ; n++ {
		pkts := w.waitFor(t, n)
		if p := pkts[n-1]; p.ssrc == ssrc && payloadIndex(p.payload) == idx {
			return pkts[from:]
		}
	}
}

func TestNackServedFromCache(t *testing.T) {
	up, _ := newTestUpTrack(t, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
	plain, withRTX := newRecordingWriter(), newRecordingWriter()
	subs := []struct {
		name string
		w    *recordingWriter
		d    *DownTrack
	}{
		{"without RTX", plain, newTestDownTrack(t, up, 128, plain, testBinding{pt: 96, ssrc: 1234})},
		{"with RTX", withRTX, newTestDownTrack(t, up, 128, withRTX, testBinding{pt: 96, ssrc: 1234, rtxPT: 97, rtxSSRC: 5678})},
	}

	s := newTestStream(65500, 90000)
	s.next(up, true)
	for i := 1; i < 20; i++ {
		s.next(up, false)
	}
	const nacked = 7
	orig := make([]sentPacket, len(subs))
	for k, sub := range subs {
		orig[k] = sub.w.waitFor(t, 20)[nacked]
	}

	// round NACKs the packet on both subscribers as readRTCP would, then forwards one packet more:
	// the writer handles its queue in order, so once that packet is out the resend was decided.
	// It returns what each subscriber sent in answer to the NACK.
	var rtxSeqs []uint16
	round := func(wantResend bool, why string) {
		t.Helper()
		from := make([]int, len(subs))
		for k, sub := range subs {
			from[k] = len(sub.w.packets())
			sub.d.queue <- queued{seq: orig[k].seq, flags: flagResend}
		}
		after := s.next(up, false)
		for k, sub := range subs {
			got := sub.w.waitForIndex(t, from[k], after, 1234)
			answer := got[:len(got)-1]
			if !wantResend {
				if len(answer) != 0 {
					t.Errorf("%s: NACK %s was answered with %d packets, want none", sub.name, why, len(answer))
				}
				continue
			}
			if len(answer) != 1 {
				t.Errorf("%s: NACK %s was answered with %d packets, want 1", sub.name, why, len(answer))
				continue
			}
			p := answer[0]
			if p.ts != orig[k].ts || p.marker != orig[k].marker {
				t.Errorf("%s: resend has timestamp %d marker %v, want the original's %d %v", sub.name, p.ts, p.marker, orig[k].ts, orig[k].marker)
			}
			if sub.w == plain {
				if p.ssrc != 1234 || p.pt != 96 || p.seq != orig[k].seq || !bytes.Equal(p.payload, s.in[nacked]) {
					t.Errorf("%s: resend is SSRC %d PT %d seq %d (payload equal: %v), want the original packet: SSRC 1234 PT 96 seq %d",
						sub.name, p.ssrc, p.pt, p.seq, bytes.Equal(p.payload, s.in[nacked]), orig[k].seq)
				}
				continue
			}
			if p.ssrc != 5678 || p.pt != 97 || len(p.payload) < 2 ||
				binary.BigEndian.Uint16(p.payload) != orig[k].seq || !bytes.Equal(p.payload[2:], s.in[nacked]) {
				t.Errorf("%s: resend is SSRC %d PT %d with %d payload bytes, want RTX (SSRC 5678 PT 97) of original seq %d and payload",
					sub.name, p.ssrc, p.pt, len(p.payload), orig[k].seq)
			}
			rtxSeqs = append(rtxSeqs, p.seq)
		}
	}

	const spacing = 110 * time.Millisecond // resendSpacing with no RTT measured is 100 ms
	// A receiver NACKs as soon as it sees a gap, so the first resend must not wait for the spacing.
	round(true, "right after the original was sent, for the 1st resend")
	round(false, "right after the 1st resend (within the resend spacing)")
	time.Sleep(spacing)
	round(true, "for the 2nd resend")
	time.Sleep(spacing)
	round(true, "for the 3rd resend")
	time.Sleep(spacing)
	round(false, "for a 4th resend (at most 3 per packet)")

	for k := 1; k < len(rtxSeqs); k++ {
		if rtxSeqs[k] != rtxSeqs[k-1]+1 {
			t.Errorf("RTX sequence numbers %v are not consecutive", rtxSeqs)
			break
		}
	}
	for _, sub := range subs {
		if n := sub.d.stats.resent.Load(); n != 3 {
			t.Errorf("%s: stats.resent = %d, want 3", sub.name, n)
		}
	}
}

// holdingWriter records, and while held makes WriteRTP wait: a connection that stops for a moment.
type holdingWriter struct {
	*recordingWriter
	gmu  sync.Mutex
	gate chan struct{} // nil: not held
}

func (w *holdingWriter) hold() {
	w.gmu.Lock()
	w.gate = make(chan struct{})
	w.gmu.Unlock()
}

func (w *holdingWriter) release() {
	w.gmu.Lock()
	if w.gate != nil {
		close(w.gate)
		w.gate = nil
	}
	w.gmu.Unlock()
}

func (w *holdingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.gmu.Lock()
	gate := w.gate
	w.gmu.Unlock()
	if gate != nil {
		<-gate
	}
	return w.recordingWriter.WriteRTP(h, payload)
}

// A subscriber that lost a burst of packets sends one NACK listing them all. While its connection
// pauses for a few packets' time, those resend requests must not take the whole queue: the
// media packets that arrive meanwhile would be dropped, and video would freeze until a keyframe.
func TestNackBurstDoesNotDropMedia(t *testing.T) {
	up, _ := newTestUpTrack(t, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
	w := &holdingWriter{recordingWriter: newRecordingWriter()}
	d := newTestDownTrack(t, up, 128, w, testBinding{pt: 96, ssrc: 1234}) // 128: the server's default
	s := newTestStream(1, 1)
	s.next(up, true)
	for i := 1; i < 200; i++ {
		s.next(up, false)
		if i%50 == 0 {
			w.waitFor(t, i+1) // no burst beyond the queue
		}
	}
	sent := w.waitFor(t, 200)

	w.hold()
	s.next(up, false) // the writer takes it and waits
	pollUntil(t, "the writer to take the packet", func() bool { return len(d.queue) == 0 })
	lost := make([]uint16, 0, 136) // one RTCP NACK with 8 pairs covers up to 136 packets
	for _, p := range sent[50:186] {
		lost = append(lost, p.seq)
	}
	d.queueResends(rtcp.NackPairsFromSequenceNumbers(lost))
	var during []int
	for i := 0; i < 5; i++ {
		during = append(during, s.next(up, false))
	}
	w.release()
	pollUntil(t, "the writer to drain its queue", func() bool { return len(d.queue) == 0 })
	// A keyframe after the pause arrives in any case: once it is out, the writer is done with
	// the packets before it.
	pkts := w.waitForIndex(t, 200, s.next(up, true), 1234)
	got := map[int]bool{}
	for _, p := range pkts {
		if p.ssrc == 1234 && p.seq-sent[0].seq >= 200 { // media sent after the pause, not a resend
			got[payloadIndex(p.payload)] = true
		}
	}
	for _, i := range during {
		if !got[i] {
			t.Errorf("packet #%d, forwarded during a pause of 6 packets, was dropped because a NACK of %d packets filled the queue (stats.dropped = %d)",
				i, len(lost), d.stats.dropped.Load())
		}
	}
}

// TestDuplicatesNotForwarded: a packet the server has forwarded already is not forwarded again
// when another copy arrives (Chrome pads its uplink with RTX copies of recent packets, and a
// retransmission may cross its original), nor is one older than the cache; a packet that was
// lost and arrives late is forwarded, once.
func TestDuplicatesNotForwarded(t *testing.T) {
	up, _ := newTestUpTrack(t, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
	w := newRecordingWriter()
	newTestDownTrack(t, up, 2*videoCacheSize, w, testBinding{pt: 96, ssrc: 1111})

	const firstSeq, firstTS = 65500, 90000 // across the wrap
	s := newTestStream(firstSeq, firstTS)
	s.next(up, true)
	for range 9 {
		s.next(up, false)
	}
	w.waitFor(t, 10)

	lost := s.lose(false) // packet 10 does not arrive (yet)
	s.next(up, false)
	for _, i := range []int{3, 9, 0} { // copies of packets forwarded already
		s.resend(up, firstSeq, firstTS, i)
	}
	s.resend(up, firstSeq, firstTS, lost) // the lost one, late
	s.resend(up, firstSeq, firstTS, lost) // and a second copy of it
	last := s.next(up, false)
	// The writer sends in the order it was given: once the last packet is out, so is anything
	// that came before it.
	var got []int
	for _, p := range w.waitForIndex(t, 10, last, 1111) {
		got = append(got, payloadIndex(p.payload))
	}
	if want := []int{11, lost, last}; !slices.Equal(got, want) {
		t.Fatalf("after the first 10 packets the subscriber was sent packets %v, want %v", got, want)
	}
	// Nor do the copies count as packets received in the publisher's receiver reports.
	if n := up.layer(0).recv.received.Load(); n != 13 {
		t.Errorf("receiver reports count %d packets received, want the 13 distinct ones", n)
	}

	// Once the stream has moved on by more than the cache holds, a copy of an old packet is not
	// forwarded either (nor stored over a newer one).
	for range videoCacheSize {
		s.next(up, false)
	}
	s.resend(up, firstSeq, firstTS, 1)
	last = s.next(up, false)
	for _, p := range w.waitForIndex(t, 13, last, 1111) {
		if payloadIndex(p.payload) == 1 {
			t.Fatalf("packet 1 was forwarded again %d packets later", videoCacheSize+2)
		}
	}
}
