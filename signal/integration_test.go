package signal_test

import (
	"bytes"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, pionSRTPAcceptLeak)
}

// pionSRTPAcceptLeak ignores the one goroutine pion/srtp v3.0.13 can leave behind: its read loop
// hands a new stream to AcceptStream without watching for the session's close
// (session_srtp.go:226, "s.session.newStream <- r"), so a packet of a new SSRC that arrives as a
// PeerConnection closes, right after its DTLS completed, blocks that goroutine for good. The
// churn test (200 joins and leaves in 2 s, a tenth of them publishing) meets it in most runs,
// with the code of before and after this was written; nothing of ours can reach the channel.
var pionSRTPAcceptLeak = goleak.IgnoreTopFunction("github.com/pion/srtp/v3.(*SessionSRTP).decrypt")

// checkMedia asserts that sub receives pub's audio and video, and that every payload it gets is
// one pub sent, byte for byte.
func checkMedia(t *testing.T, sub, pub *member) {
	t.Helper()
	waitFor(t, 10*time.Second, sub.name+" receiving "+pub.name+"'s audio and video", func() bool {
		tracks := sub.rec.byStream(pub.ID)
		if len(tracks) != 2 {
			return false
		}
		for _, r := range tracks {
			if r.packets.Load() < 20 {
				return false
			}
		}
		return true
	})
	for _, r := range sub.rec.byStream(pub.ID) {
		src := pub.audio
		if r.track.Kind().String() == "video" {
			src = pub.video
		}
		if n := r.foreignExt.Load(); n > 0 {
			t.Fatalf("%s: %d packets on %s carry header extension ids %s never negotiated", sub.name, n, describe(r), sub.name)
		}
		for i := 0; i < 20; i++ {
			p := <-r.payloads
			if !src.wasSent(p) {
				t.Fatalf("%s got a payload on %s that %s never sent: % x", sub.name, describe(r), pub.name, p[:min(len(p), 24)])
			}
			if !bytes.Contains(p, []byte(src.tag)) {
				t.Fatalf("%s: payload on %s lacks tag %q", sub.name, describe(r), src.tag)
			}
		}
	}
}

func TestThreeParticipantsExchangeMediaAndLeave(t *testing.T) {
	ts := startServer(t)
	a := join(t, ts, "room1", "alice", true)
	b := join(t, ts, "room1", "bob", true)
	c := join(t, ts, "room1", "carol", true)
	members := []*member{a, b, c}
	for _, sub := range members {
		for _, pub := range members {
			if sub != pub {
				checkMedia(t, sub, pub)
			}
		}
		if own := sub.rec.byStream(sub.ID); len(own) != 0 {
			t.Fatalf("%s receives its own tracks", sub.name)
		}
	}
	if got := ts.sfu.Room("room1").Participants(); len(got) != 3 || got[0].Name != "alice" || got[2].Name != "carol" {
		t.Fatalf("room members = %+v", got)
	}

	// carol leaves: the others are told, and her tracks end on their connections.
	c.Leave()
	for _, m := range []*member{a, b} {
		if e := waitEvent(t, m, "participantLeft", 2*time.Second); e.ID != c.ID {
			t.Fatalf("%s: participantLeft for %q, want carol %q", m.name, e.ID, c.ID)
		}
		for _, r := range m.rec.byStream(c.ID) {
			select {
			case <-r.ended:
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: carol's track %s did not end after she left", m.name, describe(r))
			}
		}
	}
	// alice and bob still exchange media.
	for _, r := range append(a.rec.byStream(b.ID), b.rec.byStream(a.ID)...) {
		before := r.packets.Load()
		waitFor(t, 3*time.Second, "media still flowing on "+describe(r), func() bool { return r.packets.Load() > before+10 })
	}
}

func TestRTCPReportsAndFeedback(t *testing.T) {
	ts := startServer(t)
	alice := join(t, ts, "rtcp", "alice", true)
	bob := join(t, ts, "rtcp", "bob", false)
	videoFrom(t, bob, alice)
	// The publisher gets receiver reports, and TWCC feedback for its bandwidth estimate.
	defer func() {
		t.Logf("rr v=%d a=%d twcc v=%d a=%d", alice.video.rrs.Load(), alice.audio.rrs.Load(), alice.video.twcc.Load(), alice.audio.twcc.Load())
	}()
	waitFor(t, 10*time.Second, "receiver reports and TWCC feedback at the publisher", func() bool {
		return alice.video.rrs.Load() > 0 && alice.audio.rrs.Load() > 0 && alice.video.twcc.Load()+alice.audio.twcc.Load() > 0
	})
	// Each subscriber gets sender reports for each track (for lip sync).
	waitFor(t, 10*time.Second, "sender reports at the subscriber", func() bool {
		tracks := bob.rec.byStream(alice.ID)
		for _, r := range tracks {
			if r.srs.Load() == 0 {
				return false
			}
		}
		return len(tracks) == 2
	})

	// The reports say what happened: nothing lost, the sequence number the publisher sent last,
	// and the time of its last sender report echoed so that it can tell the round-trip time.
	for _, tr := range []*synthTrack{alice.video, alice.audio} {
		waitFor(t, 5*time.Second, "a receiver report echoing a sender report", func() bool {
			rr := tr.lastRR.Load()
			return rr != nil && rr.LastSenderReport != 0
		})
		rr := tr.lastRR.Load()
		if rr.FractionLost != 0 || rr.TotalLost != 0 {
			t.Errorf("%s: receiver report says lost %d/256, %d in all, on loopback without loss", tr.tag, rr.FractionLost, rr.TotalLost)
		}
		if sent := uint16(tr.lastSeq.Load()); uint16(rr.LastSequenceNumber) > sent || sent-uint16(rr.LastSequenceNumber) > 100 {
			t.Errorf("%s: receiver report's highest sequence number %d, but the publisher sent up to %d", tr.tag, rr.LastSequenceNumber, sent)
		}
		if rr.Delay > 2*65536 { // reports go every second
			t.Errorf("%s: receiver report's delay since the last sender report %d/65536 s", tr.tag, rr.Delay)
		}
	}
	// A sender report maps the track's clock to wall time: its RTP time runs on from the
	// newest packet the subscriber got by no more than the time since then.
	for _, r := range bob.rec.byStream(alice.ID) {
		before := r.srs.Load()
		waitFor(t, 3*time.Second, "a new sender report on "+describe(r), func() bool { return r.srs.Load() > before })
		sr, last := r.lastSR.Load(), r.lastTS.Load()
		rate := r.track.Codec().ClockRate
		if ahead := int32(sr.RTPTime - last); ahead < -int32(rate/10) || ahead > int32(rate/2) {
			t.Errorf("%s: sender report's RTP time %d is %d ticks (%d ms) from the newest packet's %d", describe(r), sr.RTPTime, ahead, int64(ahead)*1000/int64(rate), last)
		}
		if got := int64(sr.PacketCount); got == 0 || got > r.packets.Load()+60 {
			t.Errorf("%s: sender report counts %d packets, the subscriber got %d", describe(r), got, r.packets.Load())
		}
	}
}
