//go:build linux || darwin

package sfu

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestForwardingAllocatesNothing checks the promise of the hot path: once started, forwarding a
// packet to every subscriber (reader, queues, writers, header rewrite, sequencer, report
// figures) allocates nothing, so the garbage collector has nothing to do per packet. The writers'
// allocations count too: AllocsPerRun counts the whole process.
func TestForwardingAllocatesNothing(t *testing.T) {
	const n = 10
	up, _ := newTestUpTrack(t, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8)
	fan := newFanIn()
	for i := range n {
		newTestDownTrack(t, up, 128, &countingWriter{fan: fan}, testBinding{pt: 96, ssrc: uint32(1000 + i)})
	}
	key, delta := benchPacket(true), benchPacket(false)
	forward := forwarder(t, up, fan, n)
	forward(key)
	for range 2 * videoCacheSize { // two turns of the packet cache: steady state
		forward(delta)
	}
	time.Sleep(10 * time.Millisecond)
	if allocs := testing.AllocsPerRun(500, func() { forward(delta) }); allocs != 0 {
		t.Fatalf("forwarding one packet to %d subscribers allocates %.2f times, want 0", n, allocs)
	}
}
