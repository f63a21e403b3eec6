package main

import (
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
)

// seqTracker counts the packets of one track that one client received, from the counters in
// their marks: expected is every counter from the first seen to the highest seen, so a client
// that joins late, or whose video starts at a keyframe, is not charged with what came before.
// Duplicates (a resend of a packet that was not lost) are told apart with a bitmap of the last
// seqWindow counters; a packet older than that is counted as received (it cannot be checked).
//
// A gap that ends at the start of a keyframe is also counted as skipped: that is how the server
// drops video on purpose (a subscriber's downlink estimate does not carry it, or its queue
// overflowed), stopping at the end of a frame and resuming at a keyframe. Loss on the way is
// random and mostly repaired.
type seqTracker struct {
	started         bool
	first, highest  uint32
	received        uint64 // distinct packets
	duplicates, old uint64
	skipped         uint64 // missing packets in gaps that ended at a keyframe
	window          [seqWindow / 64]uint64
}

const seqWindow = 2048

func (t *seqTracker) bit(c uint32) (*uint64, uint64) {
	i := c % seqWindow
	return &t.window[i/64], 1 << (i % 64)
}

// add records the packet numbered c; keyframe says it starts a keyframe.
func (t *seqTracker) add(c uint32, keyframe bool) {
	if !t.started {
		t.started, t.first, t.highest, t.received = true, c, c, 1
		w, b := t.bit(c)
		*w |= b
		return
	}
	if c > t.highest {
		if keyframe {
			t.skipped += uint64(c - t.highest - 1)
		}
		if c-t.highest >= seqWindow {
			clear(t.window[:])
		} else {
			for n := t.highest + 1; n < c; n++ {
				w, b := t.bit(n)
				*w &^= b
			}
		}
		t.highest = c
		w, b := t.bit(c)
		*w |= b
		t.received++
		return
	}
	if t.highest-c >= seqWindow {
		t.old++
		t.received++
		t.first = min(t.first, c)
		return
	}
	// Within the window; below first only when reordered at the start, and then its bit was
	// never set (bits are set only for counters from first on).
	w, b := t.bit(c)
	if *w&b != 0 {
		t.duplicates++
		return
	}
	*w |= b
	t.received++
	t.first = min(t.first, c)
}

// expected is how many packets the client should have got.
func (t *seqTracker) expected() uint64 {
	if !t.started {
		return 0
	}
	return uint64(t.highest-t.first) + 1
}

// lost is expected minus received, never below 0 (old packets are not deduplicated).
func (t *seqTracker) lost() uint64 {
	if e := t.expected(); e > t.received {
		return e - t.received
	}
	return 0
}

// histogram counts latencies in microseconds in log-linear buckets: exact below 16 us, then 16
// buckets per power of two, so a quantile is off by at most 1/32 of its value (3%). It takes
// values up to 2^36 us (19 hours). Adding is one atomic increment: the receive path does not
// allocate, and a progress reader may copy it at any time.
type histogram struct {
	b [histBuckets]atomic.Uint64
}

const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	histMaxBits = 36
	histBuckets = (histMaxBits-histSubBits)*histSub + histSub
)

func histIndex(us uint64) int {
	if us < histSub {
		return int(us)
	}
	us = min(us, 1<<histMaxBits-1)
	e := bits.Len64(us) - histSubBits - 1 // us>>e is in [16, 32)
	return (e+1)*histSub + int(us>>e) - histSub
}

// histValue is the middle of bucket i, in microseconds.
func histValue(i int) float64 {
	if i < histSub {
		return float64(i)
	}
	e := i/histSub - 1
	low := uint64(i%histSub+histSub) << e
	return float64(low) + float64(uint64(1)<<e)/2
}

func (h *histogram) add(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.b[histIndex(us)].Add(1)
}

// counts is a copy of a histogram, or the sum or difference of copies.
type counts [histBuckets]uint64

func (c *counts) addFrom(h *histogram) {
	for i := range h.b {
		c[i] += h.b[i].Load()
	}
}

// since returns c minus an earlier copy.
func (c *counts) since(earlier *counts) counts {
	var d counts
	for i := range c {
		d[i] = c[i] - earlier[i]
	}
	return d
}

func (c *counts) total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// quantile returns the q-quantile (0 < q <= 1), or -1 for an empty histogram.
func (c *counts) quantile(q float64) time.Duration {
	n := c.total()
	if n == 0 {
		return -1
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i, v := range c {
		seen += v
		if seen >= rank {
			return time.Duration(histValue(i) * float64(time.Microsecond))
		}
	}
	return -1
}

// percentile is the q-quantile of a few sorted samples (one per client: join times); -1 if none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortedCopy(xs []time.Duration) []time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}
