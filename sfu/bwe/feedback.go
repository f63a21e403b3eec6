package bwe

import "encoding/binary"

// Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
// section 3.1), read straight from the RTCP bytes. Pion's rtcp package keeps one pointer per
// packet reported, about one allocation per packet the server forwarded; this reads the same
// without allocating.
//
//	 0                   1                   2                   3
//	|V=2|P|  FMT=15 |    PT=205     |           length              |
//	|                     SSRC of packet sender                     |
//	|                      SSRC of media source                     |
//	|      base sequence number     |      packet status count      |
//	|                 reference time                | fb pkt. count |
//	|          packet chunk         |         packet chunk          |
//	...
//	|         recv delta            |  recv delta   | zero padding  |

const (
	rtcpTransportFeedback = 205 // RTPFB
	fmtTransportCC        = 15

	statusNotReceived   = 0
	statusSmallDelta    = 1
	statusLargeDelta    = 2
	feedbackHeaderBytes = 20
)

// isTransportCC reports whether the RTCP packet p (one of a compound) is transport-wide
// feedback.
func isTransportCC(p []byte) bool {
	return len(p) >= 4 && p[1] == rtcpTransportFeedback && p[0]&0x1f == fmtTransportCC
}

// walkFeedback calls each for every packet that the feedback p reports, in order: its
// transport-wide sequence number, whether it arrived, and when (in nanoseconds on the
// receiver's clock). It reports false, having called each for none or some, if p is malformed.
func walkFeedback(p []byte, each func(seq uint16, received bool, arrival int64)) bool {
	if len(p) < feedbackHeaderBytes || !isTransportCC(p) {
		return false
	}
	if n := (int(binary.BigEndian.Uint16(p[2:4])) + 1) * 4; n <= len(p) {
		p = p[:n] // the rest is the next packet of a compound
	}
	if len(p) < feedbackHeaderBytes {
		return false
	}
	base := binary.BigEndian.Uint16(p[12:14])
	count := int(binary.BigEndian.Uint16(p[14:16]))
	ref := int64(p[16])<<16 | int64(p[17])<<8 | int64(p[18])
	if ref&0x800000 != 0 {
		ref -= 1 << 24 // a signed 24-bit value
	}
	arrival := ref * referenceUnit

	// The chunks first, to find where the deltas start.
	chunks := feedbackHeaderBytes
	for seen := 0; seen < count; chunks += 2 {
		if chunks+2 > len(p) {
			return false
		}
		c := binary.BigEndian.Uint16(p[chunks:])
		switch {
		case c&0x8000 == 0:
			seen += int(c & 0x1fff)
		case c&0x4000 == 0:
			seen += 14
		default:
			seen += 7
		}
	}
	deltas := p[chunks:]
	done := 0
	status := func(s uint16) bool {
		if done >= count {
			return true
		}
		seq := base + uint16(done)
		done++
		switch s {
		case statusSmallDelta:
			if len(deltas) < 1 {
				return false
			}
			arrival += int64(deltas[0]) * 250_000
			deltas = deltas[1:]
			each(seq, true, arrival)
		case statusLargeDelta:
			if len(deltas) < 2 {
				return false
			}
			arrival += int64(int16(binary.BigEndian.Uint16(deltas))) * 250_000
			deltas = deltas[2:]
			each(seq, true, arrival)
		default: // not received, or the reserved symbol
			each(seq, false, 0)
		}
		return true
	}
	for i := feedbackHeaderBytes; i < chunks; i += 2 {
		c := binary.BigEndian.Uint16(p[i:])
		switch {
		case c&0x8000 == 0: // run length: |0|S S|   run length (13)   |
			s := c >> 13 & 0x3
			for range int(c & 0x1fff) {
				if !status(s) {
					return false
				}
			}
		case c&0x4000 == 0: // status vector of 14 one-bit symbols: 1 means received, small delta
			for b := 13; b >= 0; b-- {
				if !status(c >> b & 1) {
					return false
				}
			}
		default: // status vector of 7 two-bit symbols
			for b := 12; b >= 0; b -= 2 {
				if !status(c >> b & 3) {
					return false
				}
			}
		}
	}
	return true
}
