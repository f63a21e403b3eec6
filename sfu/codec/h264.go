package codec

// H.264 RTP payload (RFC 6184). The first byte of every payload is a NAL unit
// header |F|NRI(2)|Type(5)|; types 1-23 are single NAL units, 24 is STAP-A
// (aggregated NAL units each preceded by a 16-bit size) and 28 is FU-A (a
// fragment, with an FU header |S|E|R|Type(5)| after the indicator).
const (
	h264ForbiddenBit = 0x80
	h264TypeMask     = 0x1f

	h264NALUIDR   = 5  // coded slice of an IDR picture
	h264NALUSPS   = 7  // sequence parameter set
	h264NALUSTAPA = 24 // single-time aggregation packet
	h264NALUFUA   = 28 // fragmentation unit

	h264FUStart = 0x80
	h264FUEnd   = 0x40

	h264STAPSizeLen = 2
)

// h264KeyNALU reports whether a NAL unit header starts a keyframe: an IDR
// slice or an SPS, with the forbidden bit clear.
func h264KeyNALU(header byte) bool {
	if header&h264ForbiddenBit != 0 {
		return false
	}
	t := header & h264TypeMask
	return t == h264NALUIDR || t == h264NALUSPS
}

func h264KeyframeStart(payload []byte) bool {
	// Every NAL unit we accept has a header and at least one more byte.
	if len(payload) < 2 || payload[0]&h264ForbiddenBit != 0 {
		return false
	}
	switch payload[0] & h264TypeMask {
	case h264NALUIDR, h264NALUSPS:
		return true
	case h264NALUSTAPA:
		i := 1
		for len(payload)-i >= h264STAPSizeLen {
			n := int(payload[i])<<8 | int(payload[i+1])
			i += h264STAPSizeLen
			if n == 0 || n > len(payload)-i {
				return false // malformed or truncated aggregate
			}
			if n >= 2 && h264KeyNALU(payload[i]) {
				return true
			}
			i += n
		}
		return false
	case h264NALUFUA:
		if len(payload) < 3 {
			return false
		}
		fu := payload[1]
		// A fragment may not both start and end a NAL unit (RFC 6184 5.8).
		if fu&(h264FUStart|h264FUEnd) != h264FUStart {
			return false
		}
		t := fu & h264TypeMask
		return t == h264NALUIDR || t == h264NALUSPS
	}
	return false
}
