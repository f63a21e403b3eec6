package main

import (
	"bytes"
	"math"
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestSeqTracker(t *testing.T) {
	for _, c := range []struct {
		name                         string
		counters                     []uint32
		keyframeAt                   uint32 // a packet with this counter starts a keyframe (0: none)
		expected, received, lost     uint64
		duplicates, old, skippedWant uint64
	}{
		{name: "in order from a late start", counters: []uint32{100, 101, 102, 103}, expected: 4, received: 4},
		{name: "a hole", counters: []uint32{1, 2, 5, 6}, expected: 6, received: 4, lost: 2},
		{name: "reordered", counters: []uint32{1, 3, 2, 4}, expected: 4, received: 4},
		{name: "repaired", counters: []uint32{1, 2, 4, 5, 3}, expected: 5, received: 5},
		{name: "duplicate", counters: []uint32{1, 2, 2, 3}, expected: 3, received: 3, duplicates: 1},
		{name: "reordered before the first", counters: []uint32{10, 11, 9, 12}, expected: 4, received: 4},
		{name: "jump beyond the window", counters: []uint32{1, 2, 5000, 5001}, expected: 5001, received: 4, lost: 4997},
		{name: "too old to check", counters: []uint32{5000, 5001, 10}, expected: 4992, received: 3, lost: 4989, old: 1},
		{name: "skipped to a keyframe", counters: []uint32{1, 2, 3, 10, 11}, keyframeAt: 10, expected: 11, received: 5, lost: 6, skippedWant: 6},
		{name: "a hole before an inter frame", counters: []uint32{1, 2, 3, 10, 11}, keyframeAt: 11, expected: 11, received: 5, lost: 6},
		{name: "window slot reuse", counters: []uint32{0, seqWindow, 2 * seqWindow}, expected: 2*seqWindow + 1, received: 3, lost: 2*seqWindow - 2},
	} {
		var tr seqTracker
		for _, n := range c.counters {
			tr.add(n, n == c.keyframeAt)
		}
		if tr.expected() != c.expected || tr.received != c.received || tr.lost() != c.lost ||
			tr.duplicates != c.duplicates || tr.old != c.old || tr.skipped != c.skippedWant {
			t.Errorf("%s: expected %d received %d lost %d duplicates %d old %d skipped %d; want %d %d %d %d %d %d", c.name,
				tr.expected(), tr.received, tr.lost(), tr.duplicates, tr.old, tr.skipped,
				c.expected, c.received, c.lost, c.duplicates, c.old, c.skippedWant)
		}
	}
	var tr seqTracker
	if tr.expected() != 0 || tr.lost() != 0 {
		t.Errorf("an empty tracker expects %d", tr.expected())
	}
}

func TestHistogram(t *testing.T) {
	for us := uint64(0); us < 1<<20; us = us*5/4 + 1 {
		i := histIndex(us)
		if i < 0 || i >= histBuckets {
			t.Fatalf("%d us: bucket %d of %d", us, i, histBuckets)
		}
		if v := histValue(i); math.Abs(v-float64(us)) > float64(us)/30+0.5 {
			t.Errorf("%d us: bucket %d reads %.1f, more than 3%% off", us, i, v)
		}
	}
	if histIndex(math.MaxUint64) != histBuckets-1 {
		t.Errorf("the largest value is not in the last bucket")
	}
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	h.add(-time.Second) // a clock step: counted as 0
	var c counts
	c.addFrom(&h)
	if c.total() != 1001 {
		t.Errorf("total %d", c.total())
	}
	for _, q := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := c.quantile(q.q)
		if math.Abs(float64(got-q.want)) > 0.04*float64(q.want) {
			t.Errorf("q%.2f = %v, want about %v", q.q, got, q.want)
		}
	}
	var empty counts
	if empty.quantile(0.5) != -1 {
		t.Errorf("the quantile of nothing is not -1")
	}
	later := c
	later[histIndex(5000)] += 10
	if d := later.since(&c); d.total() != 10 {
		t.Errorf("difference of copies: %d", d.total())
	}
}

func TestPercentile(t *testing.T) {
	xs := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	s := sortedCopy(xs)
	if percentile(s, 0.5) != 5 || percentile(s, 0.95) != 10 || percentile(s, 0.1) != 1 || percentile(nil, 0.5) != -1 {
		t.Errorf("percentiles of 1..10: %v %v %v", percentile(s, 0.5), percentile(s, 0.95), percentile(s, 0.1))
	}
	if xs[0] != 5 {
		t.Errorf("sortedCopy sorted its argument")
	}
}

// TestPayload: what a publisher writes, a subscriber reads back through a real RTP header with
// CSRCs, a header extension and padding.
func TestPayload(t *testing.T) {
	payload := make([]byte, 100)
	putVideoHeader(payload, true, true)
	want := mark{track: 7, counter: 123456, sent: time.Now().UnixNano()}
	putMark(payload[videoHeaderLen:], want)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 9, CSRC: []uint32{1, 2}}, Payload: payload}
	if err := pkt.Header.SetExtension(3, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	pkt.Padding, pkt.PaddingSize = true, 7
	b, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, ok := rtpPayload(b)
	if !ok || !bytes.Equal(got, payload) {
		t.Fatalf("rtpPayload: %v, %d bytes; want the %d bytes of the payload", ok, len(got), len(payload))
	}
	if got[0] != 0x10 || got[1]&1 != 0 {
		t.Errorf("a keyframe's first packet starts % x", got[:2])
	}
	m, ok := parseMark(got[videoHeaderLen:])
	if !ok || m != want {
		t.Errorf("mark %+v, want %+v", m, want)
	}
	putVideoHeader(payload, true, false)
	if payload[0] != 0x10 || payload[1]&1 != 1 {
		t.Errorf("an inter frame starts % x", payload[:2])
	}
	putVideoHeader(payload, false, false)
	if payload[0]&0x10 != 0 {
		t.Errorf("a frame's later packet has the S bit: % x", payload[:2])
	}
	for _, bad := range [][]byte{nil, {0x80}, {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 9}, {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200}} {
		if _, ok := rtpPayload(bad); ok {
			t.Errorf("rtpPayload accepted % x", bad)
		}
	}
	if _, ok := parseMark(make([]byte, markLen)); ok {
		t.Errorf("parseMark accepted zeros")
	}
}

// TestReceivePathDoesNotAllocate: counting a packet, the loss bitmap and the latency histogram
// included, allocates nothing.
func TestReceivePathDoesNotAllocate(t *testing.T) {
	p := &participant{streams: map[uint32]*stream{}, joinStart: time.Now()}
	payload := make([]byte, 1000)
	putVideoHeader(payload, true, false)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2}, Payload: payload}
	var counter uint32
	raw, _ := pkt.Marshal()
	var s *stream
	allocs := testing.AllocsPerRun(1000, func() {
		putMark(raw[12+videoHeaderLen:], mark{track: 1, counter: counter, sent: time.Now().UnixNano()})
		counter++
		s = p.count(raw, videoHeaderLen, s, time.Now())
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet", allocs)
	}
	var tot streamTotals
	p.received(&tot)
	if tot.streams != 1 || tot.lost != 0 || tot.received != tot.expected || tot.received < 1000 {
		t.Errorf("totals %+v", tot)
	}
}

func TestProcStat(t *testing.T) {
	stat := []byte("1234 (sfu (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 1000 100 0")
	cpu, err := parseStatCPU(stat, 100)
	if err != nil || cpu != 3*time.Second {
		t.Errorf("cpu %v, %v; want 3s (250+50 ticks at 100 Hz)", cpu, err)
	}
	if _, err := parseStatCPU([]byte("1234 (sfu) S 1"), 100); err == nil {
		t.Errorf("a short stat line parsed")
	}
	status := []byte("Name:\tsfu\nVmPeak:\t  2000 kB\nVmHWM:\t    1500 kB\nVmRSS:\t 1000 kB\n")
	if got := parseStatusKB(status, "VmHWM:"); got != 1500*1024 {
		t.Errorf("VmHWM %d", got)
	}
	s, err := readProc(os.Getpid())
	if err != nil || s.cpu <= 0 || s.peakRSS == 0 {
		t.Errorf("readProc(self) = %+v, %v", s, err)
	}
	if clockTicks() <= 0 {
		t.Errorf("clock ticks %d", clockTicks())
	}
}

func TestIsLoopback(t *testing.T) {
	for u, want := range map[string]bool{
		"ws://127.0.0.1:8080/ws":    true,
		"ws://localhost:8080/ws":    true,
		"ws://[::1]:8080/ws":        true,
		"wss://call.example.org/ws": false,
		"ws://10.0.0.1:8080/ws":     false,
	} {
		if isLoopback(u) != want {
			t.Errorf("isLoopback(%q) = %v", u, !want)
		}
	}
}
