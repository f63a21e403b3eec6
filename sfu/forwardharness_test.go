package sfu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu/codec"
	"github.com/sfu-project/sfu/sfu/packetcache"
)

// These tests drive the forwarding path (UpTrack.forward, DownTrack.run) without a
// PeerConnection: a DownTrack is bound through its real Bind with a fake TrackLocalContext whose
// write stream records or blocks, standing in for Pion's SRTP writer.

var forwardTestLogger = slog.New(slog.DiscardHandler)

// testKeyframeInterval is the keyframe requester's interval in these tests: shorter than the
// production default so that a request made after a stall goes out at once.
const testKeyframeInterval = 100 * time.Millisecond

// forwardWaitTimeout bounds every wait for the writer goroutines. It is a hang detector, not a
// performance limit.
const forwardWaitTimeout = 5 * time.Second

// newTestUpTrack returns an UpTrack that no PeerConnection feeds: the test calls forward itself.
// The counter counts the keyframe requests (PLIs) that would go to the publisher.
func newTestUpTrack(t testing.TB, kind webrtc.RTPCodecType, mime string) (*UpTrack, *atomic.Int32) {
	t.Helper()
	plis := new(atomic.Int32)
	size := audioCacheSize
	if kind == webrtc.RTPCodecTypeVideo {
		size = videoCacheSize
	}
	up := &UpTrack{
		id:        kind.String(),
		publisher: &Participant{id: "pub", log: forwardTestLogger},
		kind:      kind,
		codec: webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: testClockRate(kind)},
			PayloadType:        111,
		},
		codecKind: codec.KindOf(mime),
		log:       forwardTestLogger,
	}
	up.downs.Store(&[]*DownTrack{})
	l := &layer{cache: packetcache.New(size), keyframes: newKeyframeRequester(testKeyframeInterval, func() { plis.Add(1) })}
	up.layers[0].Store(l)
	t.Cleanup(up.close)
	return up, plis
}

// feed hands one packet to up's first layer, as its reader would.
func feed(up *UpTrack, pkt []byte) { up.forward(up.layer(0), pkt) }

func testClockRate(kind webrtc.RTPCodecType) uint32 {
	if kind == webrtc.RTPCodecTypeAudio {
		return 48000
	}
	return 90000
}

// testBinding is what the fake TrackLocalContext negotiates. rtxSSRC 0 means no RTX.
type testBinding struct {
	pt, rtxPT     uint8
	ssrc, rtxSSRC uint32
}

// fakeTrackLocalContext is what Pion would pass to Bind.
type fakeTrackLocalContext struct {
	codecs []webrtc.RTPCodecParameters
	ssrc   webrtc.SSRC
	rtx    webrtc.SSRC
	stream webrtc.TrackLocalWriter
}

func (c *fakeTrackLocalContext) CodecParameters() []webrtc.RTPCodecParameters { return c.codecs }
func (c *fakeTrackLocalContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	return nil
}
func (c *fakeTrackLocalContext) SSRC() webrtc.SSRC                       { return c.ssrc }
func (c *fakeTrackLocalContext) SSRCRetransmission() webrtc.SSRC         { return c.rtx }
func (c *fakeTrackLocalContext) SSRCForwardErrorCorrection() webrtc.SSRC { return 0 }
func (c *fakeTrackLocalContext) WriteStream() webrtc.TrackLocalWriter    { return c.stream }
func (c *fakeTrackLocalContext) ID() string                              { return "ctx" }
func (c *fakeTrackLocalContext) RTCPReader() interceptor.RTCPReader      { return nil }

// newTestDownTrack subscribes a DownTrack with its own writer goroutine to up, bound through Bind
// as Pion would bind it, writing to w. The DownTrack is closed, and its writer goroutine has
// returned, when the test ends.
func newTestDownTrack(t testing.TB, up *UpTrack, queueLen int, w webrtc.TrackLocalWriter, tb testBinding) *DownTrack {
	t.Helper()
	d := newDownTrack(up, &Participant{id: "sub", log: forwardTestLogger}, queueLen)
	ctx := &fakeTrackLocalContext{
		codecs: []webrtc.RTPCodecParameters{{
			RTPCodecCapability: up.codec.RTPCodecCapability,
			PayloadType:        webrtc.PayloadType(tb.pt),
		}},
		ssrc:   webrtc.SSRC(tb.ssrc),
		stream: w,
	}
	if tb.rtxSSRC != 0 {
		ctx.rtx = webrtc.SSRC(tb.rtxSSRC)
		ctx.codecs = append(ctx.codecs, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeRTX, ClockRate: up.codec.ClockRate, SDPFmtpLine: "apt=" + itoa(int(tb.pt)),
			},
			PayloadType: webrtc.PayloadType(tb.rtxPT),
		})
	}
	if _, err := d.Bind(ctx); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	if b := d.bound.Load(); b == nil || b.pt != tb.pt || b.ssrc != tb.ssrc || b.rtxPT != tb.rtxPT || b.rtxSSRC != tb.rtxSSRC {
		t.Fatalf("Bind stored %+v, want %+v", b, tb)
	}
	up.addDown(d)
	exited := make(chan struct{})
	go func() {
		d.run()
		close(exited)
	}()
	t.Cleanup(func() {
		up.removeDown(d)
		d.close()
		if r, ok := w.(interface{ release() }); ok {
			r.release() // a writer blocked in WriteRTP would keep run from returning
		}
		<-exited
	})
	return d
}

// sentPacket is what a subscriber's connection was given to send.
type sentPacket struct {
	seq     uint16
	ts      uint32
	ssrc    uint32
	pt      uint8
	marker  bool
	ext     bool
	payload []byte
}

// recordingWriter is a webrtc.TrackLocalWriter that keeps a copy of everything written to it.
type recordingWriter struct {
	mu      sync.Mutex
	pkts    []sentPacket
	changed chan struct{} // closed and replaced on every write
}

func newRecordingWriter() *recordingWriter {
	return &recordingWriter{changed: make(chan struct{})}
}

func (w *recordingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	p := sentPacket{
		seq: h.SequenceNumber, ts: h.Timestamp, ssrc: h.SSRC, pt: h.PayloadType, marker: h.Marker,
		ext: h.Extension || len(h.Extensions) > 0, payload: bytes.Clone(payload),
	}
	w.mu.Lock()
	w.pkts = append(w.pkts, p)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	return h.MarshalSize() + len(payload), nil
}

var errWholePacket = errors.New("test writer: the forwarding path must not write whole packets")

func (w *recordingWriter) Write([]byte) (int, error) { return 0, errWholePacket }

// packets returns a copy of what was written so far.
func (w *recordingWriter) packets() []sentPacket {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sentPacket(nil), w.pkts...)
}

// waitFor waits until at least n packets were written and returns them.
func (w *recordingWriter) waitFor(t testing.TB, n int) []sentPacket {
	t.Helper()
	timeout := time.NewTimer(forwardWaitTimeout)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		got, changed := len(w.pkts), w.changed
		w.mu.Unlock()
		if got >= n {
			return w.packets()
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("subscriber received %d packets within %v, want %d", got, forwardWaitTimeout, n)
		}
	}
}

// blockingWriter is a stalled subscriber: every write waits until the test releases it, then is
// recorded.
type blockingWriter struct {
	*recordingWriter
	gate chan struct{}
	once sync.Once
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{recordingWriter: newRecordingWriter(), gate: make(chan struct{})}
}

func (w *blockingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	<-w.gate
	return w.recordingWriter.WriteRTP(h, payload)
}

func (w *blockingWriter) release() { w.once.Do(func() { close(w.gate) }) }

// packetBuilder marshals test RTP packets into one reusable buffer.
type packetBuilder struct {
	hdr rtp.Header
	buf []byte
}

func newPacketBuilder() *packetBuilder {
	b := &packetBuilder{
		hdr: rtp.Header{Version: 2, PayloadType: 111, SSRC: 0xdecafbad},
		buf: make([]byte, 1500),
	}
	// A publisher's header extension (mid), which no subscriber must see: its id belongs to the
	// publisher's session.
	if err := b.hdr.SetExtension(4, []byte("0")); err != nil {
		panic(err)
	}
	return b
}

// build returns a packet with this header and payload, valid until the next call.
func (b *packetBuilder) build(seq uint16, ts uint32, marker bool, payload []byte) []byte {
	b.hdr.SequenceNumber, b.hdr.Timestamp, b.hdr.Marker = seq, ts, marker
	n, err := b.hdr.MarshalTo(b.buf)
	if err != nil {
		panic(err)
	}
	n += copy(b.buf[n:], payload)
	return b.buf[:n]
}

// vp8Payload is a VP8 payload of size bytes (at least 4) that starts a keyframe or a delta frame
// and carries the number i, so that a test can tell packets apart.
func vp8Payload(i int, keyframe bool, size int) []byte {
	p := make([]byte, size)
	p[0] = 0x10 // descriptor: S=1, PID=0
	if !keyframe {
		p[1] = 0x01 // VP8 payload header: P=1, an interframe
	}
	binary.BigEndian.PutUint16(p[2:], uint16(i))
	for j := 4; j < size; j++ {
		p[j] = byte(i + j)
	}
	return p
}

func isKeyframeStart(payload []byte) bool { return len(payload) > 1 && payload[1]&1 == 0 }

func payloadIndex(payload []byte) int { return int(binary.BigEndian.Uint16(payload[2:])) }

// testStream is a publisher's sequence of packets: one frame per packet, 3000 ticks apart.
type testStream struct {
	b   *packetBuilder
	seq uint16
	ts  uint32
	in  [][]byte // payload of every packet sent, by index
}

func newTestStream(seq uint16, ts uint32) *testStream {
	return &testStream{b: newPacketBuilder(), seq: seq, ts: ts}
}

// next forwards the next packet through up and returns its index.
func (s *testStream) next(up *UpTrack, keyframe bool) int {
	i := s.lose(keyframe)
	feed(up, s.b.build(s.seq-1, s.ts-3000, true, s.in[i]))
	return i
}

// lose makes the next packet one that the SFU does not receive (for now), and returns its index.
func (s *testStream) lose(keyframe bool) int {
	i := len(s.in)
	s.in = append(s.in, vp8Payload(i, keyframe, 200))
	s.seq++
	s.ts += 3000
	return i
}

// resend forwards packet i again, as the publisher's retransmission.
func (s *testStream) resend(up *UpTrack, first uint16, firstTS uint32, i int) {
	feed(up, s.b.build(first+uint16(i), firstTS+uint32(i)*3000, true, s.in[i]))
}

// checkContinuous reports an error unless pkts have consecutive sequence numbers and one constant
// timestamp offset against the stream's packets.
func checkContinuous(t *testing.T, name string, firstTS uint32, pkts []sentPacket) {
	t.Helper()
	if len(pkts) == 0 {
		return
	}
	i0 := payloadIndex(pkts[0].payload)
	tsOffset := pkts[0].ts - (firstTS + uint32(i0)*3000)
	for k, p := range pkts {
		i := payloadIndex(p.payload)
		if want := pkts[0].seq + uint16(k); p.seq != want {
			t.Errorf("%s: packet %d (publisher's #%d) has sequence number %d, want %d (consecutive)", name, k, i, p.seq, want)
		}
		if want := firstTS + uint32(i)*3000 + tsOffset; p.ts != want {
			t.Errorf("%s: packet %d (publisher's #%d) has timestamp %d, want %d (constant offset)", name, k, i, p.ts, want)
		}
	}
}
