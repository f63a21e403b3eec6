package sfu

import "encoding/binary"

// rtpInfo is what the forwarding path reads from an incoming RTP header. Parsing by hand, rather
// than with rtp.Header.Unmarshal, keeps the per-packet path free of allocations (CSRC and
// extension slices) and skips what an SFU rewrites anyway.
type rtpInfo struct {
	seq          uint16
	timestamp    uint32
	ssrc         uint32
	payloadType  uint8
	marker       bool
	payloadStart int
	payloadEnd   int // after padding is removed
}

// parseRTP reads an RTP packet's fixed header, skips CSRCs and the extension, and strips padding.
// It reports false for anything that is not a well-formed RTP version 2 packet.
func parseRTP(b []byte) (rtpInfo, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpInfo{}, false
	}
	p := rtpInfo{
		marker:      b[1]&0x80 != 0,
		payloadType: b[1] & 0x7f,
		seq:         binary.BigEndian.Uint16(b[2:4]),
		timestamp:   binary.BigEndian.Uint32(b[4:8]),
		ssrc:        binary.BigEndian.Uint32(b[8:12]),
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // extension: 4-byte header with its length in 32-bit words
		if len(b) < off+4 {
			return rtpInfo{}, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:off+4]))
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding: the last byte counts the padding bytes, itself included
		pad := int(b[len(b)-1])
		if pad == 0 {
			return rtpInfo{}, false
		}
		end -= pad
	}
	if off > end {
		return rtpInfo{}, false
	}
	p.payloadStart, p.payloadEnd = off, end
	return p, true
}

// seqBefore reports whether sequence number a comes before b, allowing for wrap-around.
func seqBefore(a, b uint16) bool {
	return a != b && b-a < 0x8000
}
