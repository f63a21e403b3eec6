//go:build linux || darwin

package sfu

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu/packetcache"
)

// The benchmarks compare our fan-out (UpTrack.forward, then one writer goroutine per subscriber)
// with Pion's stock fan-out (one TrackLocalStaticRTP bound to N PeerConnections).
//
//   - BenchmarkForward stops at the TrackLocalWriter: no SRTP, no UDP send.
//   - BenchmarkPionTrackLocalStaticRTP includes Pion's default interceptors, SRTP and the send.
//   - BenchmarkForwardThroughPion is our path bound to real PeerConnections, so it includes the
//     same as the Pion one.
//
// In the two with PeerConnections the receiving peers run in a child process, so that the
// allocations and the CPU time reported are the sending side's only. Each reports
// ns/subscriber-packet (wall clock, over the timed loop) and cpu-ns/subscriber-packet (the
// benchmark process's user+system time over the same loop). docs/performance.md has numbers and
// commands.

// fanIn tells a benchmark when every subscriber has handed the current packet to its connection:
// arm(n) before forwarding, then wait. Neither side allocates.
type fanIn struct {
	pending atomic.Int64
	done    chan struct{}
	timer   *time.Timer
}

func newFanIn() *fanIn {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &fanIn{done: make(chan struct{}, 1), timer: t}
}

// arm expects n deliveries. Deliveries of an earlier packet still under way would count: arm only
// when the writers are idle.
func (f *fanIn) arm(n int) {
	f.pending.Store(int64(n))
	select {
	case <-f.done: // a token left from before
	default:
	}
}

// one counts a delivery. It never blocks: a writer must not wait for the benchmark.
func (f *fanIn) one() {
	if f.pending.Add(-1) == 0 {
		select {
		case f.done <- struct{}{}:
		default:
		}
	}
}

// wait reports whether the packet reached every subscriber within limit.
func (f *fanIn) wait(limit time.Duration) bool {
	f.timer.Reset(limit)
	select {
	case <-f.done:
		f.timer.Stop()
		return true
	case <-f.timer.C:
		return false
	}
}

// forwarder returns a function that forwards one packet of up to its n subscribers, each packet
// with the next sequence number and timestamp, and waits until all have handed it over.
func forwarder(tb testing.TB, up *UpTrack, fan *fanIn, n int) func(pkt []byte) {
	var seq uint16
	var ts uint32
	return func(pkt []byte) {
		setSeqTS(pkt, seq, ts)
		seq++
		ts += 3000
		fan.arm(n)
		feed(up, pkt)
		if !fan.wait(10 * time.Second) {
			tb.Fatal("a subscriber did not get the packet within 10 s")
		}
	}
}

// countingWriter is a subscriber's connection that sends nothing. It allocates nothing.
type countingWriter struct{ fan *fanIn }

func (w *countingWriter) WriteRTP(*rtp.Header, []byte) (int, error) {
	w.fan.one()
	return 0, nil
}

func (w *countingWriter) Write([]byte) (int, error) { return 0, errWholePacket }

// mediaWriter wraps the write stream Pion bound a DownTrack to and tells fan of every new media
// packet written; resends (an old sequence number, or the RTX SSRC) do not count.
type mediaWriter struct {
	inner   webrtc.TrackLocalWriter
	ssrc    uint32
	fan     *fanIn
	started bool // owned by the DownTrack's writer goroutine, like last
	last    uint16
}

func (w *mediaWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := w.inner.WriteRTP(h, payload)
	if err == nil && h.SSRC == w.ssrc && (!w.started || seqBefore(w.last, h.SequenceNumber)) {
		w.started, w.last = true, h.SequenceNumber
		w.fan.one()
	}
	return n, err
}

func (w *mediaWriter) Write(b []byte) (int, error) { return w.inner.Write(b) }

// benchPacket is a ~1000-byte VP8 packet (1012-byte payload plus a 20-byte header with one
// extension, like a browser's), marshalled once; the benchmarks rewrite its sequence number and
// timestamp in place.
func benchPacket(keyframe bool) []byte {
	return append([]byte(nil), newPacketBuilder().build(0, 0, true, vp8Payload(0, keyframe, 1012))...)
}

// setSeqTS rewrites a marshalled RTP packet's sequence number and timestamp.
func setSeqTS(pkt []byte, seq uint16, ts uint32) {
	binary.BigEndian.PutUint16(pkt[2:4], seq)
	binary.BigEndian.PutUint32(pkt[4:8], ts)
}

// cpuTime is the user and system time of this process so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportPerSubscriberPacket reports wall-clock and CPU time per packet per subscriber.
func reportPerSubscriberPacket(b *testing.B, n int, cpu time.Duration) {
	per := float64(b.N * n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/subscriber-packet")
	b.ReportMetric(float64(cpu.Nanoseconds())/per, "cpu-ns/subscriber-packet")
}

// BenchmarkForward is our forwarding path in steady state: each iteration forwards one packet and
// waits until every subscriber's writer has handed it to its (counting) connection. Waiting makes
// it a latency measure: no two packets are in flight at once, so the writers never batch.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 50, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			up, _ := newTestUpTrack(b, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
			fan := newFanIn()
			downs := make([]*DownTrack, n)
			for i := range downs {
				downs[i] = newTestDownTrack(b, up, 128, &countingWriter{fan: fan}, testBinding{pt: 96, ssrc: uint32(1000 + i)})
			}
			key, delta := benchPacket(true), benchPacket(false)
			forward := forwarder(b, up, fan, n)
			// Warm up: the keyframe starts every subscriber, then two turns of the packet cache.
			forward(key)
			for i := 0; i < 2*videoCacheSize; i++ {
				forward(delta)
			}

			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				forward(delta)
			}
			cpu = cpuTime(b) - cpu
			reportPerSubscriberPacket(b, n, cpu)
			for _, d := range downs {
				if d.stats.dropped.Load() != 0 {
					b.Fatal("a subscriber dropped packets: the measurement is not of the steady state")
				}
			}
		})
	}
}

// BenchmarkForwardSimulcast is BenchmarkForward for a simulcast VP8 track of three layers, a
// third of the subscribers on each: every iteration forwards one packet of each layer, and each
// subscriber sends the one of its layer, its VP8 picture id rewritten. ns/subscriber-packet is
// per packet sent; the two packets of the other layers each subscriber passes over are part of
// its cost.
func BenchmarkForwardSimulcast(b *testing.B) {
	for _, n := range []int{3, 30, 99} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			up, _ := newTestUpTrack(b, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
			up.simulcast = true
			for i := range maxLayers {
				up.infos = append(up.infos, LayerInfo{RID: itoa(i)})
				if i > 0 {
					up.layers[i].Store(&layer{index: i, cache: packetcache.New(videoCacheSize),
						keyframes: newKeyframeRequester(testKeyframeInterval, func() {})})
				}
			}
			fan := newFanIn()
			for i := range n {
				d := newTestDownTrack(b, up, 128, &countingWriter{fan: fan}, testBinding{pt: 96, ssrc: uint32(1000 + i)})
				if !d.rewriteVP8 {
					b.Fatal("a simulcast VP8 DownTrack does not rewrite picture ids")
				}
				d.setTarget(i % maxLayers)
			}
			var pkts, keys [maxLayers][]byte
			for i := range maxLayers {
				pkts[i], keys[i] = simulcastBenchPacket(false), simulcastBenchPacket(true)
			}
			var seq uint16
			var ts uint32
			forward := func(pkts *[maxLayers][]byte) {
				fan.arm(n)
				for i := range maxLayers {
					setSeqTS(pkts[i], seq, ts)
					pkts[i][20+2], pkts[i][20+3] = 0x80|byte(seq>>8)&0x7f, byte(seq) // picture id
					up.forward(up.layer(i), pkts[i])
				}
				seq++
				ts += 3000
				if !fan.wait(10 * time.Second) {
					b.Fatal("a subscriber did not get the packet within 10 s")
				}
			}
			forward(&keys)
			for i := 0; i < 2*videoCacheSize; i++ {
				forward(&pkts)
			}

			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				forward(&pkts)
			}
			cpu = cpuTime(b) - cpu
			reportPerSubscriberPacket(b, n, cpu)
		})
	}
}

// simulcastBenchPacket is benchPacket with a VP8 descriptor that has a 15-bit picture id.
func simulcastBenchPacket(keyframe bool) []byte {
	p := benchPacket(keyframe)
	payload := p[20:]                   // after the 12-byte header and the 8-byte extension block
	payload[0], payload[1] = 0x90, 0x80 // X, S; I
	payload[4] = 0x01                   // VP8 header: an interframe...
	if keyframe {
		payload[4] = 0x00 // ... or a keyframe
	}
	return p
}

// BenchmarkPionTrackLocalStaticRTP is Pion's stock fan-out for comparison: one
// TrackLocalStaticRTP added to N PeerConnections, each connected over loopback to a peer that
// reads and discards, all with Pion's default codecs and interceptors, as a stock Pion
// application would have them. Each iteration is one WriteRTP, which encrypts and sends to every
// subscriber in turn. 100 subscribers are left out: 200 PeerConnections on a small machine make
// the numbers noise.
func BenchmarkPionTrackLocalStaticRTP(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			api := newStockPionAPI(b)
			track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "pub")
			if err != nil {
				b.Fatal(err)
			}
			peers := newPionPeers(b)
			for i := 0; i < n; i++ {
				peers.connect(api, track, nil)
			}

			pkt := &rtp.Packet{}
			if err := pkt.Unmarshal(benchPacket(true)); err != nil {
				b.Fatal(err)
			}
			// Not the publisher's extension: its id means something else on these connections
			// (here transport-cc, whose interceptor then rejects the packet). Pion's TWCC
			// interceptor adds its own.
			pkt.Extension, pkt.Extensions = false, nil
			var seq uint16
			var ts uint32
			write := func() {
				pkt.SequenceNumber, pkt.Timestamp = seq, ts
				seq++
				ts += 3000
				if err := track.WriteRTP(pkt); err != nil {
					b.Fatal(err)
				}
			}
			peers.warmUp(n, write)
			pkt.Payload[1] = 0x01 // deltas from now on

			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				write()
			}
			cpu = cpuTime(b) - cpu
			reportPerSubscriberPacket(b, n, cpu)
		})
	}
}

// BenchmarkForwardThroughPion is our forwarding path bound to real PeerConnections, so that it
// includes what BenchmarkPionTrackLocalStaticRTP includes: interceptors, SRTP and the UDP send.
// Each iteration forwards one packet and waits until every subscriber's writer has handed it to
// Pion. engine=pion-default sends with the same API as BenchmarkPionTrackLocalStaticRTP;
// engine=sfu with the server's own (newAPI: no NACK responder, no stats interceptor, AES-128-GCM
// preferred, one ICE UDP mux, downlink estimation); engine=sfu-nobwe the same without downlink
// estimation (no TWCC numbering, no gcc). The receiving side is stock Pion in all.
func BenchmarkForwardThroughPion(b *testing.B) {
	for _, engine := range []string{"pion-default", "sfu", "sfu-nobwe"} {
		for _, n := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("engine=%s/subscribers=%d", engine, n), func(b *testing.B) {
				benchmarkForwardThroughPion(b, engine, n)
			})
		}
	}
}

func benchmarkForwardThroughPion(b *testing.B, engine string, n int) {
	sendAPI := newStockPionAPI(b)
	if engine == "sfu" || engine == "sfu-nobwe" {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		mux := webrtc.NewICEUDPMux(nil, conn)
		b.Cleanup(func() { _ = mux.Close() }) // after the PeerConnections close (cleanups run last first)
		cfg := defaultConfig()
		cfg.loopback = true
		cfg.bwe = engine == "sfu"
		if sendAPI, err = newAPI(&cfg, mux, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	up, _ := newTestUpTrack(b, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
	peers := newPionPeers(b)
	fan := newFanIn()
	downs := make([]*DownTrack, n)
	for i := range downs {
		d := newDownTrack(up, &Participant{id: "sub", log: forwardTestLogger}, 128)
		up.addDown(d)
		exited := make(chan struct{})
		go func() {
			d.run()
			close(exited)
		}()
		b.Cleanup(func() {
			up.removeDown(d)
			d.close()
			<-exited
		})
		peers.connect(sendAPI, d, d.readRTCP)
		bound := d.bound.Load()
		if bound == nil {
			b.Fatal("Pion did not bind the DownTrack")
		}
		counted := *bound
		counted.stream = &mediaWriter{inner: bound.stream, ssrc: bound.ssrc, fan: fan}
		d.bound.Store(&counted)
		downs[i] = d
	}

	key, delta := benchPacket(true), benchPacket(false)
	var seq uint16
	var ts uint32
	// forward forwards one packet to all, and reports whether every queue took it.
	forward := func(pkt []byte) bool {
		setSeqTS(pkt, seq, ts)
		seq++
		ts += 3000
		fan.arm(n)
		feed(up, pkt)
		for _, d := range downs {
			if d.overflow.Load() {
				return false
			}
		}
		return true
	}
	// quiesce waits until no writer has had anything to do for 20 ms.
	quiesce := func() {
		last := make([]uint64, n)
		for quiet := 0; quiet < 20; quiet++ {
			for i, d := range downs {
				if p := d.stats.packets.Load() + d.stats.resent.Load(); p != last[i] || len(d.queue) > 0 {
					last[i], quiet = p, 0
				}
			}
			time.Sleep(time.Millisecond)
		}
	}
	// A queue overflows when resend requests from a NACK storm fill it (receivers that the CPU
	// starves lose packets on loopback); the writer then skips to the next keyframe. resync gives
	// it one, outside the timed region and the CPU count.
	var drops int
	var resyncCPU time.Duration
	resync := func() {
		b.StopTimer()
		start := cpuTime(b)
		drops++
		for try := 0; ; try++ {
			quiesce()
			if forward(key) && fan.wait(5*time.Second) {
				break
			}
			if try == 30 {
				b.Fatal("the subscribers did not resume at a keyframe in 30 tries")
			}
			time.Sleep(100 * time.Millisecond) // let the NACK storm pass
		}
		resyncCPU += cpuTime(b) - start
		b.StartTimer()
	}
	step := func(pkt []byte) {
		if !forward(pkt) {
			resync()
			return
		}
		if !fan.wait(10 * time.Second) {
			b.Fatal("a subscriber did not get the packet within 10 s")
		}
	}

	// Until every subscriber receives, keyframes: a DownTrack starts at one, and a write fails
	// until the connection's SRTP is ready.
	peers.warmUp(n, func() { forward(key) })
	quiesce()
	step(key)
	for i := 0; i < 300; i++ {
		step(delta)
	}
	drops, resyncCPU = 0, 0
	resent := make([]uint64, n)
	for i, d := range downs {
		resent[i] = d.stats.resent.Load()
	}

	b.ReportAllocs()
	cpu := cpuTime(b)
	for b.Loop() {
		step(delta)
	}
	cpu = cpuTime(b) - cpu - resyncCPU
	reportPerSubscriberPacket(b, n, cpu)
	var total uint64
	for i, d := range downs {
		total += d.stats.resent.Load() - resent[i]
	}
	b.ReportMetric(float64(total)/float64(b.N*n), "resends/subscriber-packet")
	b.ReportMetric(float64(drops), "drops")
}
