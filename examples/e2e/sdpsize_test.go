package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/signal/client"
)

// TestBrowserOfferFitsTheMessageLimitInABigRoom: a browser in a room of 12 publishers must be
// able to offer (after glare, or to publish a screen) within the protocol's 64 KiB limit. Each
// received track must add about what it adds to an answer, not the browser's whole codec list.
func TestBrowserOfferFitsTheMessageLimitInABigRoom(t *testing.T) {
	srv := localServer(t)
	room := roomName("big")
	viewer := joinAll(t, browserSpec{name: "viewer", url: srv.URL(room, "viewer")})[0]
	const publishers = 12
	stop := make(chan struct{})
	done := make(chan struct{})
	var tracks []*webrtc.TrackLocalStaticRTP
	for i := 0; i < publishers; i++ {
		v, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", fmt.Sprint("p", i))
		a, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", fmt.Sprint("p", i))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Join(ctx, client.Config{URL: "ws://" + srv.httpAddr + "/ws", Room: room, Name: fmt.Sprint("p", i), Publish: []webrtc.TrackLocal{v, a}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		tracks = append(tracks, v, a)
	}
	go func() { // a trickle of media, so that the server publishes every track
		defer close(done)
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for _, tr := range tracks {
				_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(k), Timestamp: uint32(k) * 3000}, Payload: []byte{0x10, 0, 1, 2}})
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })

	type sizes struct{ Answer, Offer, Receivers float64 }
	var s sizes
	err := eventually(30*time.Second, 500*time.Millisecond, func() error {
		var err error
		s, err = eval[sizes](viewer.browser, `(async () => {
			const pc = window.sfuClient.pc;
			const receivers = pc.getTransceivers().filter((t) => t.currentDirection === 'recvonly').length;
			const offer = await pc.createOffer();
			return {Answer: pc.localDescription.sdp.length, Offer: offer.sdp.length, Receivers: receivers};
		})()`)
		if err == nil && s.Receivers < 2*publishers {
			err = fmt.Errorf("receiving %v tracks of %d", s.Receivers, 2*publishers)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("with %d publishers: answer %v bytes, a new offer %v bytes", publishers, s.Answer, s.Offer)
	if s.Offer > 48<<10 {
		t.Fatalf("a browser offer with %d publishers in the room is %v bytes: too close to the 64 KiB limit", publishers, s.Offer)
	}
}
