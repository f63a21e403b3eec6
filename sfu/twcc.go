package sfu

// Transport-wide congestion control feedback to publishers
// (draft-holmer-rmcat-transport-wide-cc-extensions-01): a publisher numbers every packet it
// sends on its connection, the server reports back when each arrived, and the publisher's own
// bandwidth estimate (a browser's send-side estimator) adapts its bitrate from the reports.
//
// Pion's twcc.SenderInterceptor does this with one goroutine and one 100 ms ticker per
// connection, and hands every received packet to that goroutine over an unbuffered channel: a
// goroutine wake-up per packet a publisher sends, about a tenth of the server's CPU in a room
// where everyone publishes, and ten wake-ups a second for ever once a connection has received
// anything. Here the reading goroutine records the arrival itself (under the connection's own
// lock, into Pion's twcc.Recorder, which builds the feedback), and one clock for the whole
// server sends every connection's feedback every 100 ms, running only while packets arrive.

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// twccInterval is how often feedback is sent to a publisher that is sending, as Pion's and
// libwebrtc's receivers do.
const twccInterval = 100 * time.Millisecond

// configureTWCCFeedback offers transport-wide congestion control on every codec and adds the
// interceptor that sends the feedback.
func configureTWCCFeedback(m *webrtc.MediaEngine, reg *interceptor.Registry) error {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return err
		}
	}
	reg.Add(&twccFactory{clock: &twccClock{}})
	return nil
}

// twccFactory makes one twccFeedback per PeerConnection; they share the clock.
type twccFactory struct{ clock *twccClock }

func (f *twccFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccFeedback{clock: f.clock, rec: twcc.NewRecorder(rand.Uint32()), start: nanotime()}, nil
}

// twccFeedback records the arrivals on one PeerConnection and sends its feedback.
type twccFeedback struct {
	interceptor.NoOp
	clock *twccClock
	start int64 // nanotime when the connection was made: arrival times count from it, as Pion's do

	mu     sync.Mutex
	rec    *twcc.Recorder
	writer interceptor.RTCPWriter
	queued bool // on the clock's list for its next tick
	closed bool
}

func (t *twccFeedback) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	t.mu.Lock()
	t.writer = w
	t.mu.Unlock()
	return w
}

// BindRemoteStream wraps the reader of each incoming stream (media and RTX alike) that carries
// the transport-wide sequence number.
func (t *twccFeedback) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI && e.ID > 0 && e.ID < 256 {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return reader
	}
	ssrc := info.SSRC
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if h, ok := parseRTP(b[:n]); ok {
			if ext, ok := headerExtension(b[:n], &h, id); ok && len(ext) >= 2 {
				t.record(ssrc, binary.BigEndian.Uint16(ext), (nanotime()-t.start)/1e3)
			}
		}
		return n, a, nil
	})
}

// record notes that the packet with transport-wide sequence number seq arrived at arrival
// (microseconds, monotonic), and puts the connection on the clock's list if it is not there.
func (t *twccFeedback) record(ssrc uint32, seq uint16, arrival int64) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.rec.Record(ssrc, seq, arrival)
	queue := !t.queued
	t.queued = true
	t.mu.Unlock()
	if queue {
		t.clock.add(t)
	}
}

// send writes the feedback for what arrived since the last send. The clock calls it.
func (t *twccFeedback) send() {
	t.mu.Lock()
	t.queued = false
	if t.closed || t.writer == nil {
		t.mu.Unlock()
		return
	}
	pkts := t.rec.BuildFeedbackPacket()
	w := t.writer
	t.mu.Unlock()
	if len(pkts) > 0 {
		_, _ = w.Write(pkts, nil) // a closing connection's write fails; nothing to do about it
	}
}

func (t *twccFeedback) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return nil
}

// twccClock sends the feedback of every connection that received packets since its last tick.
// Its goroutine runs while there is any and exits at the first tick with none, so idle
// connections cost no wake-ups and a server with no media has no goroutine here.
//
// The feedback of all connections is written from this one goroutine. A write does not wait on
// the peer: feedback exists only for connections whose SRTP is up, and an RTCP write is an
// encryption and a send on the shared UDP socket.
type twccClock struct {
	mu      sync.Mutex
	queued  []*twccFeedback
	running bool
}

func (c *twccClock) add(t *twccFeedback) {
	c.mu.Lock()
	c.queued = append(c.queued, t)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		go c.run()
	}
}

func (c *twccClock) run() {
	tick := time.NewTicker(twccInterval)
	defer tick.Stop()
	var batch []*twccFeedback
	for range tick.C {
		c.mu.Lock()
		batch, c.queued = c.queued, batch[:0]
		if len(batch) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for i, t := range batch {
			t.send()
			batch[i] = nil
		}
	}
}
