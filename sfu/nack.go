package sfu

import (
	"time"

	"github.com/pion/rtcp"
)

// NACKs to publishers. Each video layer's reader notes the sequence numbers that arrive; a gap
// is a loss, NACKed to the publisher at the next packet after nackWait, again every
// nackInterval, at most maxResends times, for as long as the packet could still be of use.
// A retransmission repaired over RTX arrives through the same reader (Pion unwraps it), so it
// ends the NACKs for that packet; Pion's NACK generator did not see those and kept asking.
//
// There is no timer: the checks run when packets arrive, which on a live video stream is many
// times a second. (Pion's generator woke every connection every 100 ms, idle or not.)

const (
	maxMissing   = 64                     // losses tracked at once per layer
	maxGap       = 256                    // a bigger jump is a restart of the stream, not a loss
	nackWait     = 5 * time.Millisecond   // a packet this late may only be reordered
	nackInterval = 100 * time.Millisecond // between two NACKs of one packet
	nackGiveUp   = time.Second            // after this a retransmission would come too late
)

// nackTracker is one layer's record of lost packets. It is owned by the layer's reader.
type nackTracker struct {
	started bool
	highest uint16
	missing []missingPacket // at most maxMissing; made once
	due     []uint16        // sequence numbers to NACK now, reused
}

type missingPacket struct {
	seq      uint16
	detected int64 // nanotime
	lastNack int64
	nacks    uint8
}

// arrived records packet seq, and returns the sequence numbers to NACK now (valid until the
// next call).
func (t *nackTracker) arrived(seq uint16, now int64) []uint16 {
	if t.missing == nil {
		t.missing = make([]missingPacket, 0, maxMissing)
		t.due = make([]uint16, 0, maxMissing)
	}
	if !t.started {
		t.started, t.highest = true, seq
		return nil
	}
	switch d := seq - t.highest; {
	case d == 0:
		// a duplicate
	case d < 0x8000: // newer
		if d > maxGap {
			t.missing = t.missing[:0] // the stream jumped: what was missing no longer matters
		} else {
			for s := t.highest + 1; s != seq; s++ {
				t.add(s, now)
			}
		}
		t.highest = seq
	default: // older: reordered, or a retransmission
		for i := range t.missing {
			if t.missing[i].seq == seq {
				t.remove(i)
				break
			}
		}
	}
	return t.collect(now)
}

func (t *nackTracker) add(seq uint16, now int64) {
	if len(t.missing) == maxMissing {
		t.remove(0) // the oldest: the newer losses matter more
	}
	t.missing = append(t.missing, missingPacket{seq: seq, detected: now})
}

func (t *nackTracker) remove(i int) {
	t.missing = append(t.missing[:i], t.missing[i+1:]...)
}

// collect returns the losses due for a NACK, and forgets those past hope.
func (t *nackTracker) collect(now int64) []uint16 {
	t.due = t.due[:0]
	kept := t.missing[:0]
	for _, m := range t.missing {
		if now-m.detected > int64(nackGiveUp) || (m.nacks >= maxResends && now-m.lastNack >= int64(nackInterval)) {
			continue
		}
		if m.nacks < maxResends && now-m.detected >= int64(nackWait) && (m.nacks == 0 || now-m.lastNack >= int64(nackInterval)) {
			m.nacks++
			m.lastNack = now
			t.due = append(t.due, m.seq)
		}
		kept = append(kept, m)
	}
	t.missing = kept
	return t.due
}

// sendNACK asks the publisher to resend the packets seqs of layer l.
func (up *UpTrack) sendNACK(l *layer, seqs []uint16) {
	err := up.publisher.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{
		MediaSSRC: uint32(l.remote.SSRC()), Nacks: rtcp.NackPairsFromSequenceNumbers(seqs),
	}})
	if err != nil {
		up.log.Debug("NACK not sent", "err", err)
		return
	}
	up.stats.nacks.Add(1)
}
