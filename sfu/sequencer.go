package sfu

import "time"

// sequencerSize is how many sent packets a subscriber's stream remembers for NACKs: at 30 fps
// video of up to ~4 Mbit/s (~400 packets/s), about 2.5 s, longer than any useful retransmission.
const sequencerSize = 1024

// maxResends caps the retransmissions of one packet to one subscriber, so a subscriber that keeps
// NACKing a packet it cannot receive does not turn into a flood.
const maxResends = 3

// sequencer remembers, for each packet sent to one subscriber, which cached packet it was and
// when it was last sent. It holds metadata only: the payload is in the publisher's shared packet
// cache. It is owned by the subscriber's writer goroutine and needs no lock.
type sequencer struct {
	entries [sequencerSize]seqEntry
}

type seqEntry struct {
	outSeq   uint16
	inSeq    uint16
	outTS    uint32
	lastSent int64 // monotonic nanoseconds
	sends    uint8 // 1 + resends
	valid    bool
}

// sent records that cached packet inSeq went out as outSeq with timestamp outTS at now.
func (s *sequencer) sent(outSeq, inSeq uint16, outTS uint32, now int64) {
	s.entries[outSeq%sequencerSize] = seqEntry{outSeq: outSeq, inSeq: inSeq, outTS: outTS, lastSent: now, sends: 1, valid: true}
}

// resend decides whether outSeq may be sent again at now, given the minimum spacing between sends
// of one packet. If so it records the send and returns the entry.
func (s *sequencer) resend(outSeq uint16, now int64, spacing time.Duration) (seqEntry, bool) {
	e := &s.entries[outSeq%sequencerSize]
	if !e.valid || e.outSeq != outSeq || e.sends > maxResends || now-e.lastSent < int64(spacing) {
		return seqEntry{}, false
	}
	e.sends++
	e.lastSent = now
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
