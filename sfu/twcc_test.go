package sfu

import (
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TestTWCCFeedbackToPublisher connects a stock Pion publisher that numbers its packets with the
// transport-wide sequence number to a PeerConnection made by the server's API, and checks what
// the publisher's bandwidth estimator depends on: every packet it sent is reported received,
// with arrival times that advance as it sent them; feedback stops when the publisher stops
// sending; and the server's feedback clock then stops too.
func TestTWCCFeedbackToPublisher(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	mux := webrtc.NewICEUDPMux(nil, conn)
	defer func() { _ = mux.Close() }()
	cfg := defaultConfig()
	cfg.loopback = true
	serverAPI, err := newAPI(&cfg, mux, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	server, err := serverAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = server.Close() }()
	var readers sync.WaitGroup
	defer readers.Wait()
	server.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
			}
		}()
	})

	// The publisher: Pion with the interceptor that numbers outgoing packets, nothing else.
	pub, err := newLoopbackPionAPI(t, webrtc.ConfigureTWCCHeaderExtensionSender).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pub.Close() }()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pub.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}

	// What the feedback reports: arrival per transport-wide sequence number, and how many
	// feedback packets came.
	var mu sync.Mutex
	arrived := map[uint16]time.Duration{}
	feedbacks := 0
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if fb, ok := p.(*rtcp.TransportLayerCC); ok {
					mu.Lock()
					feedbacks++
					for seq, at := range reportedArrivals(fb) {
						arrived[seq] = at
					}
					mu.Unlock()
				}
			}
		}
	}()

	connectInProcess(t, pub, server)

	const sent = 300
	payload := make([]byte, 1000)
	payload[0] = 0x10 // VP8 start of partition
	for i := range sent {
		if err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, Marker: true}, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n >= sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("feedback reported %d of %d packets received", n, sent)
		}
		time.Sleep(20 * time.Millisecond)
	}

	mu.Lock()
	// The packets were sent about 2 ms apart: the first and the last arrivals reported must be
	// at least the sending time apart (the sequence numbers do not wrap in 300 packets).
	lo, hi := uint16(0xffff), uint16(0)
	for seq := range arrived {
		lo, hi = min(lo, seq), max(hi, seq)
	}
	if spread := arrived[hi] - arrived[lo]; hi-lo != sent-1 || spread < sent*time.Millisecond || spread > 10*time.Second {
		t.Errorf("packets %d to %d reported arriving over %v; sent: %d packets over at least %v", lo, hi, spread, sent, sent*2*time.Millisecond)
	}
	if feedbacks < 3 {
		t.Errorf("%d feedback packets for %v of sending; want one every %v", feedbacks, sent*2*time.Millisecond, twccInterval)
	}
	mu.Unlock()

	// Silence: no more feedback, and the clock's goroutine goes.
	time.Sleep(3 * twccInterval)
	mu.Lock()
	before := feedbacks
	mu.Unlock()
	time.Sleep(10 * twccInterval)
	mu.Lock()
	after := feedbacks
	mu.Unlock()
	if after != before {
		t.Errorf("%d feedback packets sent to a publisher that stopped sending", after-before)
	}
	if n := goroutinesIn("(*twccClock).run"); n != 0 {
		t.Errorf("%d feedback clock goroutines running with no media arriving", n)
	}
}

// reportedArrivals returns the arrival time the feedback gives for each packet it reports
// received, relative to its reference time.
func reportedArrivals(fb *rtcp.TransportLayerCC) map[uint16]time.Duration {
	out := map[uint16]time.Duration{}
	seq := fb.BaseSequenceNumber
	at := time.Duration(fb.ReferenceTime) * 64 * time.Millisecond
	deltas := fb.RecvDeltas
	status := func(s uint16) {
		if s != rtcp.TypeTCCPacketNotReceived && len(deltas) > 0 {
			at += time.Duration(deltas[0].Delta) * time.Microsecond
			deltas = deltas[1:]
			out[seq] = at
		}
		seq++
	}
	left := int(fb.PacketStatusCount)
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for i := 0; i < int(c.RunLength) && left > 0; i++ {
				status(c.PacketStatusSymbol)
				left--
			}
		case *rtcp.StatusVectorChunk:
			for i := 0; i < len(c.SymbolList) && left > 0; i++ {
				status(c.SymbolList[i])
				left--
			}
		}
	}
	return out
}

// connectInProcess makes offerer's offer, answerer's answer, with all candidates in the SDP, and
// waits until both are connected.
func connectInProcess(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	connected := func(pc *webrtc.PeerConnection) chan struct{} {
		ch := make(chan struct{})
		var once sync.Once
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				once.Do(func() { close(ch) })
			}
		})
		return ch
	}
	a, b := connected(offerer), connected(answerer)
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan struct{}{a, b} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("not connected after 10 s")
		}
	}
}

// goroutinesIn counts the goroutines whose stack has a frame in fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// TestTWCCRecordAllocatesNothing: recording an arrival, on the publisher's reading goroutine,
// allocates nothing once the recorder's history has grown to its working size.
func TestTWCCRecordAllocatesNothing(t *testing.T) {
	f, err := (&twccFactory{clock: &twccClock{}}).NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	fb := f.(*twccFeedback)
	fb.queued = true // keep it off the clock: this measures the per-packet path alone
	seq, at := uint16(0), int64(0)
	step := func() {
		fb.record(1, seq, at)
		seq++
		at += 500 // 2 000 packets a second
	}
	for range 5000 {
		step()
		if seq%200 == 0 {
			fb.rec.BuildFeedbackPacket()
		}
	}
	if a := testing.AllocsPerRun(500, step); a != 0 {
		t.Errorf("%.2f allocations per recorded packet", a)
	}
}
