package sfu

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// How many sent packets a subscriber's stream remembers for NACKs: for video, at up to ~4 Mbit/s
// (~400 packets/s), about 2.5 s, longer than any useful retransmission; for audio (50 packets/s)
// 5 s. Powers of two. An entry is 24 bytes: this is most of a DownTrack's memory.
const (
	sequencerSize      = 1024
	audioSequencerSize = 256
)

// maxResends caps the retransmissions of one packet to one subscriber, so a subscriber that keeps
// NACKing a packet it cannot receive does not turn into a flood.
const maxResends = 3

// sequencer remembers, for each packet sent to one subscriber, which cached packet it was and
// when it was last sent. It holds metadata only: the payload is in the publisher's shared packet
// cache. It is owned by the subscriber's writer goroutine and needs no lock.
type sequencer struct {
	entries []seqEntry // a power of two long
}

func newSequencer(size int) sequencer { return sequencer{entries: make([]seqEntry, size)} }

// sequencerLength is how many packets a stream of kind remembers.
func sequencerLength(kind webrtc.RTPCodecType) int {
	if kind == webrtc.RTPCodecTypeAudio {
		return audioSequencerSize
	}
	return sequencerSize
}

type seqEntry struct {
	outSeq   uint16
	inSeq    uint16 // in the cache of layer
	outTS    uint32
	resentAt int64 // monotonic nanoseconds of the last resend
	layer    int8
	tl0      uint8  // the VP8 TL0PICIDX sent, when rewritten
	pic      uint16 // the VP8 picture id sent, when rewritten
	resends  uint8
	valid    bool
}

// sent records that a cached packet went out: e says which (layer, inSeq), and as what (outSeq,
// outTS, and the VP8 picture id and TL0PICIDX if they were rewritten).
func (s *sequencer) sent(e seqEntry) {
	e.valid, e.resends, e.resentAt = true, 0, 0
	s.entries[int(e.outSeq)&(len(s.entries)-1)] = e
}

// resend decides whether outSeq may be sent again at now: at most maxResends times, each at least
// spacing after the previous resend (a NACK repeated within a round trip asks for the same
// retransmission, which is already on its way). If so it records the resend and returns the entry.
func (s *sequencer) resend(outSeq uint16, now int64, spacing time.Duration) (seqEntry, bool) {
	e := &s.entries[int(outSeq)&(len(s.entries)-1)]
	if !e.valid || e.outSeq != outSeq || e.resends >= maxResends || (e.resends > 0 && now-e.resentAt < int64(spacing)) {
		return seqEntry{}, false
	}
	e.resends++
	e.resentAt = now
	return *e, true
}

// resendSpacing is the least time between two sends of one packet: min(100 ms, 2 x RTT). With no
// RTT measured yet it is 100 ms.
func resendSpacing(rtt time.Duration) time.Duration {
	if rtt <= 0 || 2*rtt > 100*time.Millisecond {
		return 100 * time.Millisecond
	}
	return 2 * rtt
}
