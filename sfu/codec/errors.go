package codec

import "errors"

// Sentinel errors returned by the Parse functions. They are allocated once so
// that returning them costs nothing; compare with errors.Is or ==.
var (
	// ErrShortPacket means the payload ends inside the payload descriptor, or
	// right after it, with no codec payload following.
	ErrShortPacket = errors.New("codec: RTP payload too short")

	// ErrInvalidDescriptor means the payload descriptor is structurally
	// invalid, for example a VP9 reference list longer than the three
	// entries RFC 9628 allows.
	ErrInvalidDescriptor = errors.New("codec: invalid payload descriptor")
)
