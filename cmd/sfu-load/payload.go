package main

import "encoding/binary"

// The synthetic payload. Subscribers measure loss and latency without decoding anything: after
// the codec's own header bytes (two for video, none for audio) every payload carries a mark,
//
//	 0   1   2               6               10                              18
//	+---+---+---------------+---------------+-------------------------------+---------
//	|'L'| 1 | track index   | counter       | send time, unix nanoseconds   | filler
//	+---+---+---------------+---------------+-------------------------------+---------
//
// big-endian. The track index names the published track across the whole run, the counter
// numbers the track's packets from 0 (it does not wrap in any run one would make: 2^32 packets
// is four months of video at 1 Mbit/s), and a resent packet is the same bytes as the original,
// so its latency includes the repair.
//
// Video is described as VP8 (RFC 7741) so that the server's keyframe detection sees frames: the
// first packet of a frame starts with the payload descriptor 0x10 (S bit, partition 0), then the
// VP8 payload header, whose bit 0 is the inverse keyframe flag (0x00 keyframe, 0x01 inter
// frame); the other packets of a frame start with 0x00 (no S bit), then one filler byte.

const (
	markMagic   = 'L'
	markVersion = 1
	markLen     = 18

	videoHeaderLen = 2
	vp8Start       = 0x10 // payload descriptor: S=1, PID=0
	vp8Inter       = 0x01 // VP8 payload header: P=1, not a keyframe
)

// mark is what a payload says about itself.
type mark struct {
	track   uint32
	counter uint32
	sent    int64 // unix nanoseconds
}

// putMark writes m at the start of b, which must hold markLen bytes.
func putMark(b []byte, m mark) {
	_ = b[markLen-1]
	b[0], b[1] = markMagic, markVersion
	binary.BigEndian.PutUint32(b[2:], m.track)
	binary.BigEndian.PutUint32(b[6:], m.counter)
	binary.BigEndian.PutUint64(b[10:], uint64(m.sent))
}

// parseMark reads the mark at the start of b.
func parseMark(b []byte) (mark, bool) {
	if len(b) < markLen || b[0] != markMagic || b[1] != markVersion {
		return mark{}, false
	}
	return mark{
		track:   binary.BigEndian.Uint32(b[2:]),
		counter: binary.BigEndian.Uint32(b[6:]),
		sent:    int64(binary.BigEndian.Uint64(b[10:])),
	}, true
}

// putVideoHeader writes the two codec bytes of a video packet.
func putVideoHeader(b []byte, frameStart, keyframe bool) {
	b[0], b[1] = 0, vp8Inter
	if frameStart {
		b[0] = vp8Start
		if keyframe {
			b[1] = 0
		}
	}
}

// rtpPayload returns the payload of the RTP packet b: after the CSRCs and the header extension,
// before any padding. It reads the header in place, so the receive path does not allocate.
func rtpPayload(b []byte) ([]byte, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return nil, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // extension: 2 bytes profile, 2 bytes length in words
		if len(b) < off+4 {
			return nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding: the last byte says how much
		end -= int(b[end-1])
	}
	if off > end {
		return nil, false
	}
	return b[off:end], true
}
