package codec

import "strings"

// Kind identifies the codec of an RTP stream, as far as this package cares.
// Resolve it once per track with KindOf and use Kind.KeyframeStart per packet.
type Kind uint8

// The codec kinds. Unknown is the zero value.
const (
	Unknown Kind = iota // a MIME type this package does not recognise
	VP8                 // video/VP8, RFC 7741
	VP9                 // video/VP9, RFC 9628
	H264                // video/H264, RFC 6184
	AV1                 // video/AV1, AOM RTP payload format for AV1
	Audio               // any audio/* MIME type
)

// MIME types as Pion spells them (webrtc.MimeTypeVP8 and so on). They are
// compared case-insensitively.
const (
	mimeVP8   = "video/VP8"
	mimeVP9   = "video/VP9"
	mimeH264  = "video/H264"
	mimeAV1   = "video/AV1"
	mimeAudio = "audio/"
)

// KindOf returns the Kind of a MIME type such as "video/VP8" or "audio/opus",
// compared case-insensitively. Other video codecs and anything unrecognised
// give Unknown. It does not allocate.
func KindOf(mime string) Kind {
	// Pion's own spellings first: comparing constant strings is much cheaper
	// than case folding.
	switch mime {
	case mimeVP8:
		return VP8
	case mimeVP9:
		return VP9
	case mimeH264:
		return H264
	case mimeAV1:
		return AV1
	}
	switch {
	case strings.EqualFold(mime, mimeVP8):
		return VP8
	case strings.EqualFold(mime, mimeVP9):
		return VP9
	case strings.EqualFold(mime, mimeH264):
		return H264
	case strings.EqualFold(mime, mimeAV1):
		return AV1
	case len(mime) > len(mimeAudio) && strings.EqualFold(mime[:len(mimeAudio)], mimeAudio):
		return Audio
	}
	return Unknown
}

// String returns a short name for the kind, for logs.
func (k Kind) String() string {
	switch k {
	case VP8:
		return "VP8"
	case VP9:
		return "VP9"
	case H264:
		return "H264"
	case AV1:
		return "AV1"
	case Audio:
		return "audio"
	}
	return "unknown"
}

// KeyframeStart reports whether payload, the payload of one RTP packet of a
// stream of this kind, is the first packet of a keyframe: a point at which a
// decoder can start. It is false for Audio and Unknown, and for any payload
// that is truncated or malformed. It does not allocate, does not modify
// payload and never panics.
//
// The rules, per codec:
//
//   - VP8: the descriptor parses, S is set, PID is 0 and the P bit of the VP8
//     payload header is 0 (see ParseVP8Descriptor).
//   - VP9: the descriptor parses, B is set, P is clear and the spatial layer
//     ID, when present, is 0 (see ParseVP9Descriptor).
//   - H264: a single NAL unit of type 5 (IDR slice) or 7 (SPS); a STAP-A
//     holding such a NAL unit; or an FU-A whose start bit is set and which
//     fragments such a NAL unit. Each such NAL unit must have at least one
//     byte after its header, and a forbidden_zero_bit set makes it invalid.
//     Interleaved-mode packets (STAP-B, MTAP, FU-B) are not recognised.
//   - AV1: the aggregation header has N set (first packet of a coded video
//     sequence) and Z clear, and at least one byte follows it.
func (k Kind) KeyframeStart(payload []byte) bool {
	switch k {
	case VP8:
		return vp8KeyframeStart(payload)
	case VP9:
		return vp9KeyframeStart(payload)
	case H264:
		return h264KeyframeStart(payload)
	case AV1:
		return av1KeyframeStart(payload)
	}
	return false
}

// KeyframeStart reports whether payload, the payload of one RTP packet whose
// codec has the MIME type mime (for example "video/VP8", compared
// case-insensitively), is the first packet of a keyframe. It is
// KindOf(mime).KeyframeStart(payload); prefer that form when handling many
// packets of one stream.
func KeyframeStart(mime string, payload []byte) bool {
	return KindOf(mime).KeyframeStart(payload)
}
