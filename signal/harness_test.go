package signal_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/client"
)

// testServer is the real media core and signaling handler on loopback.
type testServer struct {
	sfu  *sfu.Server
	sig  *signal.Handler
	http *httptest.Server
	url  string
}

func startServer(t testing.TB, opts ...sfu.Option) *testServer {
	t.Helper()
	return startServerWith(t, nil, opts...)
}

// startServerWith also gives the signaling handler options.
func startServerWith(t testing.TB, sigOpts []signal.Option, opts ...sfu.Option) *testServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		level := slog.LevelInfo
		if os.Getenv("SFU_TEST_LOG") == "debug" {
			level = slog.LevelDebug
		}
		log = slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: level}))
	}
	opts = append([]sfu.Option{sfu.WithUDPAddr("127.0.0.1:0"), sfu.WithLoopbackCandidates(true), sfu.WithLogger(log)}, opts...)
	s, err := sfu.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	h := signal.NewHandler(s, append([]signal.Option{signal.WithLogger(log)}, sigOpts...)...)
	hs := httptest.NewServer(h)
	ts := &testServer{sfu: s, sig: h, http: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
	t.Cleanup(ts.close)
	return ts
}

func (ts *testServer) close() {
	ts.sig.Close()
	_ = ts.sfu.Close()
	ts.http.Close()
}

// testWriter sends log lines to the test's log until the test ends (Pion's callbacks may log a
// moment later; testing panics on that).
type testWriter struct {
	t    testing.TB
	done *atomic.Bool
}

func newTestWriter(t testing.TB) testWriter {
	w := testWriter{t: t, done: new(atomic.Bool)}
	t.Cleanup(func() { w.done.Store(true) })
	return w
}

func (w testWriter) Write(b []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

// synthTrack publishes synthetic media: video as one VP8-described packet per frame at 30 fps
// with a keyframe every 2 s and on every PLI, audio as 50 Opus-sized packets a second. Each
// payload carries the track's tag and a counter, so a subscriber can check it received exactly
// what was sent.
type synthTrack struct {
	*webrtc.TrackLocalStaticRTP
	tag   string
	video bool
	mime  string

	wantKeyframe atomic.Bool
	noPeriodic   atomic.Bool           // keyframes only when asked, like a browser
	ignorePLIs   atomic.Int32          // PLIs to ignore, as if they were lost
	levelID      atomic.Uint32         // negotiated id of the audio level extension; 0 sends none
	level        atomic.Uint32         // the audio level sent, in -dBov (127: silence)
	skip         func(seq uint16) bool // sequence numbers not to send (uplink loss); guarded by mu

	mu      sync.Mutex
	sent    map[string]bool
	plis    atomic.Int32
	written atomic.Int64                         // packets written
	rrs     atomic.Int32                         // receiver reports from the server
	lastRR  atomic.Pointer[rtcp.ReceptionReport] // the newest report block on this track
	lastSeq atomic.Uint32                        // the sequence number written last
	twcc    atomic.Int32                         // transport-wide congestion control feedback from the server
	nack    chan uint16
}

func newSynthTrack(t *testing.T, tag string, video bool) *synthTrack {
	t.Helper()
	if video {
		return newSynthVideo(t, tag, webrtc.MimeTypeVP8)
	}
	c := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	tr, err := webrtc.NewTrackLocalStaticRTP(c, "audio-"+tag, "stream-"+tag)
	if err != nil {
		t.Fatal(err)
	}
	return &synthTrack{TrackLocalStaticRTP: tr, tag: tag, mime: c.MimeType, sent: map[string]bool{}, nack: make(chan uint16, 1024)}
}

// newSynthVideo makes a synthetic video track of codec mime (VP8, VP9, H264 or AV1).
func newSynthVideo(t *testing.T, tag, mime string) *synthTrack {
	t.Helper()
	c := webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}
	if mime == webrtc.MimeTypeH264 {
		c.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	}
	if mime == webrtc.MimeTypeVP9 {
		c.SDPFmtpLine = "profile-id=0"
	}
	tr, err := webrtc.NewTrackLocalStaticRTP(c, "video-"+tag, "stream-"+tag)
	if err != nil {
		t.Fatal(err)
	}
	return &synthTrack{TrackLocalStaticRTP: tr, tag: tag, video: true, mime: mime, sent: map[string]bool{}, nack: make(chan uint16, 1024)}
}

// payloadStart is the first two bytes of a one-packet frame in each codec's payload format: the
// part the server reads to find keyframes.
var payloadStart = map[string][2][2]byte{ // mime -> {keyframe, inter frame}
	webrtc.MimeTypeVP8:  {{0x10, 0x00}, {0x10, 0x01}}, // descriptor S=1 PID=0; header P bit
	webrtc.MimeTypeVP9:  {{0x0c, 0x00}, {0x4c, 0x00}}, // descriptor B|E, and P for inter
	webrtc.MimeTypeH264: {{0x65, 0x88}, {0x41, 0x9a}}, // NAL type 5 (IDR) or 1
	webrtc.MimeTypeAV1:  {{0x18, 0x00}, {0x10, 0x00}}, // aggregation header W=1, N=1 for a new sequence
}

// isKeyframe reports whether a payload made by payload() starts a keyframe.
func (s *synthTrack) isKeyframe(p []byte) bool {
	return len(p) >= 2 && [2]byte{p[0], p[1]} == payloadStart[s.mime][0]
}

// payload builds packet n's payload.
func (s *synthTrack) payload(n uint32, keyframe bool) []byte {
	size := 160
	if s.video {
		size = 900
	}
	b := make([]byte, size)
	if s.video {
		start := payloadStart[s.mime][1]
		if keyframe {
			start = payloadStart[s.mime][0]
		}
		copy(b, start[:])
	}
	copy(b[2:], s.tag)
	binary.BigEndian.PutUint32(b[2+len(s.tag):], n)
	return b
}

func (s *synthTrack) run(ctx context.Context) {
	every := 20 * time.Millisecond
	step := uint32(960)
	if s.video {
		every, step = 33*time.Millisecond, 3000
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var seq uint16 = 1000
	var ts uint32
	for n := uint32(0); ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		kf := s.video && ((n%60 == 0 && !s.noPeriodic.Load()) || n == 0 || s.wantKeyframe.Swap(false))
		p := s.payload(n, kf)
		s.mu.Lock()
		s.sent[string(p)] = true
		skip := s.skip
		s.mu.Unlock()
		if skip == nil || !skip(seq) {
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: true}, Payload: p}
			if id := s.levelID.Load(); id != 0 {
				_ = pkt.Header.SetExtension(uint8(id), []byte{uint8(s.level.Load())})
			}
			_ = s.WriteRTP(pkt)
			s.lastSeq.Store(uint32(seq))
			s.written.Add(1)
		}
		seq++
		ts += step
	}
}

func (s *synthTrack) wasSent(p []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[string(p)]
}

// onRTCP is the publisher's client.Config.OnRTCP: it answers PLIs with a keyframe and records
// NACKed sequence numbers.
func onRTCP(tracks ...*synthTrack) func(*webrtc.RTPSender, []rtcp.Packet) {
	return func(s *webrtc.RTPSender, pkts []rtcp.Packet) {
		var tr *synthTrack
		for _, t := range tracks {
			if client.Unwrap(s.Track()) == webrtc.TrackLocal(t) {
				tr = t
			}
		}
		if tr == nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication:
				tr.plis.Add(1)
				if tr.ignorePLIs.Add(-1) < 0 {
					tr.wantKeyframe.Store(true)
				}
			case *rtcp.ReceiverReport:
				tr.rrs.Add(1)
				for _, b := range p.Reports {
					if enc := s.GetParameters().Encodings; len(enc) > 0 && b.SSRC == uint32(enc[0].SSRC) {
						tr.lastRR.Store(&b)
					}
				}
			case *rtcp.TransportLayerCC:
				tr.twcc.Add(1)
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					for _, seq := range pair.PacketList() {
						select {
						case tr.nack <- seq:
						default:
						}
					}
				}
			}
		}
	}
}

// received records what a subscriber got on one remote track.
type received struct {
	track    *webrtc.TrackRemote
	packets  atomic.Int64
	seqs     sync.Map // sequence number -> *atomic.Int32 times received
	payloads chan []byte
	ended    chan struct{}
	stop     atomic.Bool  // stop reading, as a stalled client would
	srs      atomic.Int32 // sender reports received for the track
	lastSR   atomic.Pointer[rtcp.SenderReport]
	lastTS   atomic.Uint32 // the RTP timestamp of the newest packet
	// foreignExt counts packets carrying a header extension id the subscriber never negotiated
	// (the publisher's ids leaking through).
	foreignExt atomic.Int32
}

// recorder is a subscriber's client.Config.OnTrack that keeps a received per track.
type recorder struct {
	mu     sync.Mutex
	tracks []*received
	added  chan *received
}

func newRecorder() *recorder { return &recorder{added: make(chan *received, 64)} }

func (r *recorder) onTrack(t *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	rec := &received{track: t, payloads: make(chan []byte, 4096), ended: make(chan struct{})}
	negotiated := map[uint8]bool{}
	for _, e := range receiver.GetParameters().HeaderExtensions {
		negotiated[uint8(e.ID)] = true
	}
	rtcpDone := make(chan struct{})
	go func() {
		defer close(rtcpDone)
		for {
			pkts, _, err := receiver.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == uint32(t.SSRC()) {
					rec.srs.Add(1)
					rec.lastSR.Store(sr)
				}
			}
		}
	}()
	defer func() { <-rtcpDone }()
	r.mu.Lock()
	r.tracks = append(r.tracks, rec)
	r.mu.Unlock()
	r.added <- rec
	defer close(rec.ended)
	for {
		for rec.stop.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		rec.packets.Add(1)
		rec.lastTS.Store(p.Timestamp)
		for _, id := range p.Header.GetExtensionIDs() {
			if !negotiated[id] {
				rec.foreignExt.Add(1)
			}
		}
		n, _ := rec.seqs.LoadOrStore(p.SequenceNumber, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		select {
		case rec.payloads <- p.Payload:
		default:
		}
	}
}

// byStream returns the tracks whose stream id (the publisher's participant id) is id.
func (r *recorder) byStream(id string) []*received {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*received
	for _, rec := range r.tracks {
		if rec.track.StreamID() == id {
			out = append(out, rec)
		}
	}
	return out
}

// member is a test participant publishing synthetic audio and video and recording what it gets.
type member struct {
	*client.Client
	name  string
	video *synthTrack
	audio *synthTrack
	rec   *recorder
}

func join(t *testing.T, ts *testServer, room, name string, publish bool) *member {
	t.Helper()
	return joinWith(t, ts, room, name, publish, nil)
}

// joinWith is join with a change to the client's configuration.
func joinWith(t *testing.T, ts *testServer, room, name string, publish bool, change func(*client.Config)) *member {
	t.Helper()
	m := &member{name: name, rec: newRecorder()}
	cfg := client.Config{URL: ts.url + "/", Room: room, Name: name, OnTrack: m.rec.onTrack}
	if publish {
		m.video, m.audio = newSynthTrack(t, name+"/v", true), newSynthTrack(t, name+"/a", false)
		cfg.Publish = []webrtc.TrackLocal{m.video, m.audio}
		cfg.OnRTCP = onRTCP(m.video, m.audio)
	}
	if change != nil {
		change(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Join(ctx, cfg)
	if err != nil {
		t.Fatalf("%s cannot join: %v", name, err)
	}
	m.Client = c
	if publish {
		m.audio.level.Store(127)
		for _, s := range c.Senders() {
			if client.Unwrap(s.Track()) != webrtc.TrackLocal(m.audio) {
				continue
			}
			for _, e := range s.GetParameters().HeaderExtensions {
				if e.URI == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" {
					m.audio.levelID.Store(uint32(e.ID))
				}
			}
		}
		mctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, tr := range []*synthTrack{m.video, m.audio} {
			wg.Add(1)
			go func() { defer wg.Done(); tr.run(mctx) }()
		}
		t.Cleanup(func() { stop(); wg.Wait() })
	}
	t.Cleanup(c.Close)
	return m
}

// waitFor polls cond every 20 ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEvent waits for an event of the given type on m, skipping others.
func waitEvent(t *testing.T, m *member, typ string, timeout time.Duration) signal.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-m.Events:
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("%s: no %q event within %v", m.name, typ, timeout)
		}
	}
}

func describe(r *received) string {
	return fmt.Sprintf("%s/%s (%d packets)", r.track.StreamID(), r.track.Kind(), r.packets.Load())
}
