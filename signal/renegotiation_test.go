package signal_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/signal/client"
)

func TestEachVideoCodecIsForwardedFromAKeyframe(t *testing.T) {
	ts := startServer(t)
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeVP9, webrtc.MimeTypeH264, webrtc.MimeTypeAV1} {
		t.Run(strings.TrimPrefix(mime, "video/"), func(t *testing.T) {
			room := "codec-" + mime
			video := newSynthVideo(t, "pub/"+mime, mime)
			pub := &member{name: "pub", rec: newRecorder(), video: video}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := client.Join(ctx, client.Config{URL: ts.url, Room: room, Name: "pub",
				Publish: []webrtc.TrackLocal{video}, OnRTCP: onRTCP(video)})
			if err != nil {
				t.Fatal(err)
			}
			pub.Client = c
			mctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); video.run(mctx) }()
			defer func() { stop(); wg.Wait(); c.Close() }()

			sub := join(t, ts, room, "sub", false)
			r := videoFrom(t, sub, pub)
			if got := r.track.Codec().MimeType; !strings.EqualFold(got, mime) {
				t.Fatalf("subscriber got codec %s, want %s", got, mime)
			}
			first := <-r.payloads
			if !video.isKeyframe(first) {
				t.Fatalf("the first packet forwarded is not a keyframe: % x", first[:4])
			}
			for i := 0; i < 10; i++ {
				if p := <-r.payloads; !video.wasSent(p) {
					t.Fatalf("payload not the publisher's: % x", p[:8])
				}
			}
		})
	}
}

func TestUnpublishAndRepublish(t *testing.T) {
	ts := startServer(t)
	alice := join(t, ts, "re", "alice", true)
	bob := join(t, ts, "re", "bob", false)
	old := videoFrom(t, bob, alice)

	var videoSender *webrtc.RTPSender
	for _, s := range alice.Senders() {
		if client.Unwrap(s.Track()) == webrtc.TrackLocal(alice.video) {
			videoSender = s
		}
	}
	if err := alice.Unpublish(videoSender); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("bob's copy of alice's video did not end after she stopped publishing it")
	}

	// She publishes a new video track (a camera switch): bob receives it.
	cam2 := newSynthVideo(t, "alice/cam2", webrtc.MimeTypeVP8)
	mctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cam2.run(mctx) }()
	defer func() { stop(); <-done }()
	if err := alice.Publish(cam2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "bob receiving alice's second camera", func() bool {
		for _, r := range bob.rec.byStream(alice.ID) {
			if r != old && r.track.Kind() == webrtc.RTPCodecTypeVideo && r.packets.Load() > 10 {
				return true
			}
		}
		return false
	})
}

// TestConcurrentRenegotiation makes client and server offers cross: members join (server offers
// to everyone) while an existing member publishes new tracks (client offers). The glare rule must
// settle every connection with every track flowing.
func TestConcurrentRenegotiation(t *testing.T) {
	ts := startServer(t)
	alice := join(t, ts, "glare", "alice", true)
	var extra []*synthTrack
	var members []*member
	mctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for i := 0; i < 3; i++ {
		tr := newSynthVideo(t, "alice/extra"+string(rune('0'+i)), webrtc.MimeTypeVP8)
		extra = append(extra, tr)
		wg.Add(1)
		go func() { defer wg.Done(); tr.run(mctx) }()
		var jwg sync.WaitGroup
		jwg.Add(2)
		go func() {
			defer jwg.Done()
			members = append(members, join(t, ts, "glare", "m"+string(rune('0'+i)), true))
		}()
		go func() {
			defer jwg.Done()
			if err := alice.Publish(tr); err != nil {
				t.Error(err)
			}
		}()
		jwg.Wait()
	}
	// Everyone receives everyone: each member gets alice's 2 + 3 extra tracks and the other
	// members' 2 each, and alice gets every member's 2.
	t.Cleanup(func() {
		if t.Failed() {
			for len(alice.Events) > 0 {
				t.Logf("alice event: %+v", <-alice.Events)
			}
			t.Logf("alice signaling state %v", alice.PC.SignalingState())
		}
	})
	for _, m := range members {
		waitFor(t, 15*time.Second, m.name+" receiving all of alice's 5 tracks", func() bool {
			n := 0
			for _, r := range m.rec.byStream(alice.ID) {
				if r.packets.Load() > 5 {
					n++
				}
			}
			return n == 5
		})
		for _, o := range members {
			if o != m {
				checkMedia(t, m, o)
			}
		}
		checkMedia(t, alice, m)
	}
}

func TestAbruptDisconnectIsNoticed(t *testing.T) {
	ts := startServer(t)
	alice := join(t, ts, "abrupt", "alice", true)
	bob := join(t, ts, "abrupt", "bob", true)
	videoFrom(t, alice, bob)
	start := time.Now()
	bob.Close() // no goodbye: the socket and the PeerConnection just go away
	if e := waitEvent(t, alice, "participantLeft", 2*time.Second); e.ID != bob.ID {
		t.Fatalf("participantLeft for %q, want bob", e.ID)
	}
	t.Logf("bob's departure noticed after %v", time.Since(start))
	waitFor(t, 2*time.Second, "the room to hold alice alone", func() bool { return len(ts.sfu.Room("abrupt").Participants()) == 1 })
}

// TestGlareClientOfferCrossesServerOffer forces the crossing: alice's client holds the server's
// offer (bob's tracks) unanswered while she publishes a new track. The server, impolite, ignores
// her offer; she answers the server's, then offers again. Both changes must arrive.
func TestGlareClientOfferCrossesServerOffer(t *testing.T) {
	ts := startServer(t)
	hold := make(chan struct{})
	held := make(chan struct{}, 1)
	var holding atomic.Bool
	video := newSynthVideo(t, "alice/v", webrtc.MimeTypeVP8)
	alice := &member{name: "alice", rec: newRecorder(), video: video}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Join(ctx, client.Config{URL: ts.url, Room: "glare2", Name: "alice",
		Publish: []webrtc.TrackLocal{video}, OnRTCP: onRTCP(video), OnTrack: alice.rec.onTrack,
		BeforeServerOffer: func() {
			if holding.Load() {
				held <- struct{}{}
				<-hold
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	alice.Client = c
	t.Cleanup(c.Close)
	mctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	cam2 := newSynthVideo(t, "alice/cam2", webrtc.MimeTypeVP8)
	run := func(tr *synthTrack) {
		wg.Add(1)
		go func() { defer wg.Done(); tr.run(mctx) }()
	}
	run(video)
	run(cam2) // the client holds it back until the server has answered an offer with it

	holding.Store(true)
	bob := join(t, ts, "glare2", "bob", true) // the server offers bob's tracks to alice...
	select {
	case <-held: // ...and alice's client is holding that offer, unanswered
	case <-time.After(5 * time.Second):
		t.Fatal("the server never offered bob's tracks to alice")
	}
	holding.Store(false)
	if err := alice.Publish(cam2); err != nil { // alice's offer crosses the server's
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the server receive, and ignore, alice's offer
	close(hold)

	checkMedia(t, alice, bob)
	waitFor(t, 10*time.Second, "bob receiving both of alice's cameras", func() bool {
		n := 0
		for _, r := range bob.rec.byStream(alice.ID) {
			if r.packets.Load() > 5 {
				n++
			}
		}
		return n == 2
	})
}
