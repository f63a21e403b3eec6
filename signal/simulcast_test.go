package signal_test

import (
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/client"
)

// simLayer is one simulcast layer of a synthetic VP8 track: frames of packetsPerFrame packets at
// 30 fps, each packet's payload a VP8 descriptor with a 15-bit picture id and a TL0PICIDX, then
// the layer's RID and a frame counter.
type simLayer struct {
	*webrtc.TrackLocalStaticRTP
	rid             string
	packetsPerFrame int
	size            int
	picBase         uint16
	wantKeyframe    atomic.Bool
	paused          atomic.Bool // told by dynacast, or stopped by the test
	stopped         atomic.Bool
	// Like a browser, every packet names its m-line and layer (RFC 8843, 8852): the server
	// tells the layers apart by them. Set once negotiated.
	mid          string
	midID, ridID atomic.Uint32
}

// simPublisher publishes one simulcast video track of three layers: q (320x180), h (640x360)
// and f (1280x720), about 70, 240 and 800 kbit/s.
type simPublisher struct {
	*client.Client
	layers []*simLayer
	events chan signal.Message // the publisher's events, read by the test
}

const simTrackID = "sim-video"

func newSimLayer(t *testing.T, rid string, packets, size int, picBase uint16) *simLayer {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		simTrackID, "sim-stream", webrtc.WithRTPStreamID(rid))
	if err != nil {
		t.Fatal(err)
	}
	return &simLayer{TrackLocalStaticRTP: tr, rid: rid, packetsPerFrame: packets, size: size, picBase: picBase}
}

// payload builds packet i of frame n.
func (l *simLayer) payload(n uint32, i int, keyframe bool) []byte {
	b := make([]byte, l.size)
	b[0] = 0x80 // X
	if i == 0 {
		b[0] |= 0x10 // S: the frame starts here
	}
	b[1] = 0xc0 // I and L
	pic := (l.picBase + uint16(n)) & 0x7fff
	b[2], b[3] = 0x80|byte(pic>>8), byte(pic)
	b[4] = byte(n) + byte(l.picBase) // TL0PICIDX
	b[5] = 0x01                      // VP8 header: P=1, an inter frame
	if keyframe && i == 0 {
		b[5] = 0x00
	}
	copy(b[6:], l.rid)
	binary.BigEndian.PutUint32(b[8:], n)
	return b
}

func (l *simLayer) run(ctx context.Context) {
	tick := time.NewTicker(33 * time.Millisecond)
	defer tick.Stop()
	seq := uint16(l.picBase) * 7
	var ts uint32 = uint32(l.picBase) * 1000
	for n := uint32(0); ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ts += 3000
		if l.paused.Load() || l.stopped.Load() {
			l.wantKeyframe.Store(true) // a browser resumes a layer with a keyframe
			continue
		}
		kf := n%90 == 0 || l.wantKeyframe.Swap(false)
		for i := range l.packetsPerFrame {
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: i == l.packetsPerFrame-1},
				Payload: l.payload(n, i, kf)}
			if id := l.midID.Load(); id != 0 {
				_ = p.Header.SetExtension(uint8(id), []byte(l.mid))
			}
			if id := l.ridID.Load(); id != 0 {
				_ = p.Header.SetExtension(uint8(id), []byte(l.rid))
			}
			_ = l.WriteRTP(p)
			seq++
		}
	}
}

// publishSimulcast joins room as name with a simulcast track described by trackInfo.
func publishSimulcast(t *testing.T, ts *testServer, room, name string) *simPublisher {
	t.Helper()
	layers := []*simLayer{
		newSimLayer(t, "q", 1, 300, 100),
		newSimLayer(t, "h", 1, 1000, 5000),
		newSimLayer(t, "f", 3, 1100, 20000),
	}
	info := signal.Message{Type: signal.TypeTrackInfo, TrackID: simTrackID, Source: signal.SourceCamera, Layers: []signal.Layer{
		{RID: "f", Width: 1280, Height: 720}, {RID: "q", Width: 320, Height: 180}, {RID: "h", Width: 640, Height: 360},
	}}
	ssrcs := sync.Map{} // SSRC -> *simLayer
	api, err := client.LoopbackAPIWith(true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := client.Config{URL: ts.url + "/", Room: room, Name: name, API: api,
		Simulcast: [][]webrtc.TrackLocal{{layers[0], layers[1], layers[2]}},
		Describe:  []signal.Message{info},
		OnRTCP: func(s *webrtc.RTPSender, pkts []rtcp.Packet) {
			for _, p := range pkts {
				if pli, ok := p.(*rtcp.PictureLossIndication); ok {
					if l, ok := ssrcs.Load(pli.MediaSSRC); ok {
						l.(*simLayer).wantKeyframe.Store(true)
					}
				}
			}
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Join(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sender := c.Senders()[0]
	params := sender.GetParameters()
	var mid string
	for _, tr := range c.PC.GetTransceivers() {
		if tr.Sender() == sender {
			mid = tr.Mid()
		}
	}
	for _, l := range layers {
		l.mid = mid
		for _, e := range params.Encodings {
			if l.rid == e.RID {
				ssrcs.Store(uint32(e.SSRC), l)
			}
		}
		for _, e := range params.HeaderExtensions {
			switch e.URI {
			case "urn:ietf:params:rtp-hdrext:sdes:mid":
				l.midID.Store(uint32(e.ID))
			case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
				l.ridID.Store(uint32(e.ID))
			}
		}
	}
	pub := &simPublisher{Client: c, layers: layers, events: make(chan signal.Message, 64)}
	mctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, l := range layers {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(mctx) }()
	}
	// Dynacast: pause and resume layers as the server says, as the web client does.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-mctx.Done():
				return
			case e := <-c.Events:
				if e.Type == signal.TypeLayers && e.TrackID == simTrackID {
					for _, l := range layers {
						active := false
						for _, rid := range e.Active {
							active = active || rid == l.rid
						}
						l.paused.Store(!active)
					}
				}
				select {
				case pub.events <- e:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
	return pub
}

// waitLayers waits until the publisher is told to send exactly the layers rids (separated by
// spaces, in the track's order), skipping other messages.
func (p *simPublisher) waitLayers(t *testing.T, rids string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-p.events:
			if e.Type == signal.TypeLayers && strings.Join(e.Active, " ") == rids {
				return
			}
		case <-deadline:
			t.Fatalf("the publisher was not told to send layers [%s] within %v", rids, timeout)
		}
	}
}

func (p *simPublisher) layer(rid string) *simLayer {
	for _, l := range p.layers {
		if l.rid == rid {
			return l
		}
	}
	return nil
}

// simReceived is what a subscriber got of the simulcast track, packet by packet.
type simReceived struct {
	mu      sync.Mutex
	packets []simPacket
}

type simPacket struct {
	seq      uint16
	rid      string
	pic      uint16
	tl0      uint8
	start    bool // first packet of a frame
	keyframe bool
}

func (r *simReceived) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if tr.Kind() != webrtc.RTPCodecTypeVideo || len(p.Payload) < 12 {
			continue
		}
		b := p.Payload
		r.mu.Lock()
		r.packets = append(r.packets, simPacket{
			seq: p.SequenceNumber, rid: string(b[6:7]), pic: uint16(b[2]&0x7f)<<8 | uint16(b[3]), tl0: b[4],
			start: b[0]&0x10 != 0, keyframe: b[0]&0x10 != 0 && b[5]&1 == 0,
		})
		r.mu.Unlock()
	}
}

// last returns the RID of the newest packet, and how many packets came.
func (r *simReceived) last() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.packets) == 0 {
		return "", 0
	}
	return r.packets[len(r.packets)-1].rid, len(r.packets)
}

// waitLayer waits until the subscriber has received 10 packets in a row of layer rid.
func (r *simReceived) waitLayer(t *testing.T, rid string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "layer "+rid, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		n := len(r.packets)
		if n < 10 {
			return false
		}
		for _, p := range r.packets[n-10:] {
			if p.rid != rid {
				return false
			}
		}
		return true
	})
}

// checkContinuous fails the test unless what arrived is one stream: sequence numbers without a
// gap, one picture id per frame counting up by one, TL0PICIDX likewise, and every change of
// layer at a keyframe. It returns the layers in the order they came.
func (r *simReceived) checkContinuous(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var order []string
	for i, p := range r.packets {
		if i == 0 {
			order = append(order, p.rid)
			if !p.keyframe {
				t.Fatalf("the first packet received is not a keyframe: %+v", p)
			}
			continue
		}
		prev := r.packets[i-1]
		if p.seq != prev.seq+1 {
			t.Fatalf("packet %d: sequence number %d after %d (layers %s -> %s): a gap", i, p.seq, prev.seq, prev.rid, p.rid)
		}
		if p.rid != prev.rid {
			order = append(order, p.rid)
			if !p.keyframe {
				t.Fatalf("packet %d: switched from %s to %s not at a keyframe", i, prev.rid, p.rid)
			}
		}
		wantPic, wantTL0 := prev.pic, prev.tl0
		if p.start {
			wantPic, wantTL0 = (prev.pic+1)&0x7fff, prev.tl0+1
		}
		if p.pic != wantPic || p.tl0 != wantTL0 {
			t.Fatalf("packet %d (%s after %s): picture id %d TL0PICIDX %d after %d %d; want %d %d",
				i, p.rid, prev.rid, p.pic, p.tl0, prev.pic, prev.tl0, wantPic, wantTL0)
		}
	}
	return order
}

func trackSettings(t *testing.T, c *client.Client, publisher string, w, h int, visible bool) {
	t.Helper()
	err := c.Send(context.Background(), signal.Message{Type: signal.TypeTrackSettings, Publisher: publisher,
		TrackID: simTrackID, Width: w, Height: h, Visible: &visible})
	if err != nil {
		t.Fatal(err)
	}
}

// A subscriber gets the layer its tile needs, switching at keyframes into one continuous
// stream; a layer that stops makes it fall back; an invisible tile pauses the track; layers that
// nobody needs are paused at the publisher and resumed when needed.
func TestSimulcastFollowsTileSize(t *testing.T) {
	ts := startServer(t, sfu.WithBandwidthEstimation(false, 0, 0))
	alice := publishSimulcast(t, ts, "sim", "alice")
	rec := &simReceived{}
	bob, err := client.Join(context.Background(), client.Config{URL: ts.url + "/", Room: "sim", Name: "bob", OnTrack: rec.onTrack})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bob.Close)
	e := waitEventOn(t, bob.Events, signal.TypeTrackPublished, 5*time.Second)
	if e.Track.Publisher != alice.ID || e.Track.TrackID != simTrackID || !e.Track.Simulcast || e.Track.Source != signal.SourceCamera {
		t.Fatalf("trackPublished: %+v", e.Track)
	}

	// No size given: the top layer.
	rec.waitLayer(t, "f", 5*time.Second)
	// A small tile: the low layer; a large one: the top again; a middling one: the middle.
	trackSettings(t, bob, alice.ID, 300, 170, true)
	rec.waitLayer(t, "q", 3*time.Second)
	trackSettings(t, bob, alice.ID, 1920, 1080, true)
	rec.waitLayer(t, "f", 3*time.Second)
	trackSettings(t, bob, alice.ID, 600, 340, true)
	rec.waitLayer(t, "h", 3*time.Second)
	trackSettings(t, bob, alice.ID, 1280, 720, true)
	rec.waitLayer(t, "f", 3*time.Second)

	// The top layer stops: bob falls back to the middle one.
	alice.layer("f").stopped.Store(true)
	rec.waitLayer(t, "h", 3*time.Second)
	alice.layer("f").stopped.Store(false)
	rec.waitLayer(t, "f", 3*time.Second)

	order := rec.checkContinuous(t)
	t.Logf("layers received, in order: %v", order)

	// A hidden tile pauses the track.
	trackSettings(t, bob, alice.ID, 1280, 720, false)
	time.Sleep(500 * time.Millisecond)
	_, before := rec.last()
	time.Sleep(time.Second)
	if _, after := rec.last(); after != before {
		t.Fatalf("a hidden tile still received %d packets", after-before)
	}

	// Dynacast: nobody needs any layer now, so alice is told to pause them all...
	alice.waitLayers(t, "", 5*time.Second)
	if st := ts.sfu.Stats(); st.LayersPaused != 3 || st.LayerSwitches < uint64(len(order)-1) {
		t.Fatalf("stats: %d layers paused, %d layer switches; want 3 and at least %d", st.LayersPaused, st.LayerSwitches, len(order)-1)
	}
	// ... and when bob shows a small tile again, to send the low layer only...
	trackSettings(t, bob, alice.ID, 320, 180, true)
	alice.waitLayers(t, "q", 2*time.Second)
	rec.waitLayer(t, "q", 3*time.Second)
	// ... and for a large tile, all three again.
	trackSettings(t, bob, alice.ID, 1280, 720, true)
	alice.waitLayers(t, "q h f", 2*time.Second)
	rec.waitLayer(t, "f", 3*time.Second)
	rec.checkContinuous(t)
}

// lossyLink drops a share of a subscriber's incoming RTP before its TWCC feedback and NACKs are
// made of them, as a congested link would.
type lossyLink struct {
	percent atomic.Int32
	n       atomic.Uint32
}

func (l *lossyLink) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &lossyInterceptor{link: l}, nil
}

type lossyInterceptor struct {
	interceptor.NoOp
	link *lossyLink
}

func (li *lossyInterceptor) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil || int32(li.link.n.Add(1)%100) >= li.link.percent.Load() {
				return n, attr, err
			}
		}
	})
}

// A subscriber whose link loses packets is moved to a lower layer by its bandwidth estimate,
// and back up when the link clears.
func TestSimulcastFollowsDownlink(t *testing.T) {
	ts := startServer(t)
	alice := publishSimulcast(t, ts, "bwe", "alice")
	rec := &simReceived{}
	link := &lossyLink{}
	api, err := client.LoopbackAPIWith(false, link)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := client.Join(context.Background(), client.Config{URL: ts.url + "/", Room: "bwe", Name: "bob", API: api, OnTrack: rec.onTrack})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bob.Close)
	_ = alice
	rec.waitLayer(t, "f", 5*time.Second)

	link.percent.Store(30)
	waitFor(t, 10*time.Second, "a lower layer on the lossy link", func() bool {
		rid, _ := rec.last()
		return rid == "h" || rid == "q"
	})
	rid, _ := rec.last()
	t.Logf("with 30%% loss: layer %s", rid)
	link.percent.Store(0)
	rec.waitLayer(t, "f", 20*time.Second)
}

// waitEventOn waits for an event of the given type on events, skipping others.
func waitEventOn(t *testing.T, events <-chan signal.Message, typ string, timeout time.Duration) signal.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-events:
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("no %q event within %v", typ, timeout)
		}
	}
}
