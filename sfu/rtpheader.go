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
	payloadEnd   int    // after padding is removed
	extProfile   uint16 // 0xBEDE (one-byte elements), 0x100x (two-byte), or 0: no extension
	extStart     int    // the extension's elements: pkt[extStart:payloadStart]
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
		p.extProfile = binary.BigEndian.Uint16(b[off : off+2])
		p.extStart = off + 4
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

// headerExtension returns the data of header extension element id (RFC 8285), or false.
func headerExtension(pkt []byte, h *rtpInfo, id uint8) ([]byte, bool) {
	if id == 0 || h.extStart == 0 || h.payloadStart > len(pkt) {
		return nil, false
	}
	b := pkt[h.extStart:h.payloadStart]
	switch {
	case h.extProfile == 0xBEDE: // one-byte header: ID (4 bits) and length - 1 (4 bits)
		for i := 0; i < len(b); {
			eid, n := b[i]>>4, int(b[i]&0x0f)+1
			if eid == 0 { // padding
				i++
				continue
			}
			if eid == 15 || i+1+n > len(b) {
				return nil, false
			}
			if eid == id {
				return b[i+1 : i+1+n], true
			}
			i += 1 + n
		}
	case h.extProfile&0xfff0 == 0x1000: // two-byte header: ID byte and length byte
		for i := 0; i+1 < len(b); {
			eid, n := b[i], int(b[i+1])
			if eid == 0 {
				i++
				continue
			}
			if i+2+n > len(b) {
				return nil, false
			}
			if eid == id {
				return b[i+2 : i+2+n], true
			}
			i += 2 + n
		}
	}
	return nil, false
}
