//go:build linux || darwin

package sfu

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// BenchmarkIdlePeerConnection measures what a connected PeerConnection that sends nothing costs
// the server: its timers (ICE keep-alives, RTCP reports, NACK and TWCC intervals, DTLS and SCTP).
// n connections (50, and 200, where the process's own wake-ups weigh less), each with one video
// track that is silent, are connected to receivers in a child process; each iteration is one second of wall time, and the benchmark reports the
// sending process's CPU time per connection per second of idling.
func BenchmarkIdlePeerConnection(b *testing.B) {
	for _, n := range []int{50, 200} {
		for _, engine := range []string{"pion-default", "sfu"} {
			b.Run(fmt.Sprintf("engine=%s/connections=%d", engine, n), func(b *testing.B) {
				benchmarkIdle(b, engine, n)
			})
		}
	}
}

func benchmarkIdle(b *testing.B, engine string, n int) {
	sendAPI := newStockPionAPI(b)
	if engine == "sfu" {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		mux := webrtc.NewICEUDPMux(nil, conn)
		b.Cleanup(func() { _ = mux.Close() })
		cfg := defaultConfig()
		cfg.loopback = true
		if sendAPI, err = newAPI(&cfg, mux, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	peers := newPionPeers(b)
	for range n {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
		if err != nil {
			b.Fatal(err)
		}
		peers.connect(sendAPI, tr, nil)
	}
	time.Sleep(2 * time.Second) // let the connections settle (DTLS, SCTP, first reports)
	cpu := cpuTime(b)
	seconds := 0
	for b.Loop() {
		time.Sleep(time.Second)
		seconds++
	}
	cpu = cpuTime(b) - cpu
	b.ReportMetric(float64(cpu.Microseconds())/float64(seconds*n), "cpu-us/connection-second")
}
