package codec

// VP9 payload descriptor (RFC 9628, section 4.2):
//
//	      0 1 2 3 4 5 6 7
//	     +-+-+-+-+-+-+-+-+
//	     |I|P|L|F|B|E|V|Z| (REQUIRED)
//	     +-+-+-+-+-+-+-+-+
//	I:   |M| PICTURE ID  | (RECOMMENDED)
//	     +-+-+-+-+-+-+-+-+
//	M:   | EXTENDED PID  | (RECOMMENDED)
//	     +-+-+-+-+-+-+-+-+
//	L:   |  T  |U|  S  |D| (CONDITIONALLY RECOMMENDED)
//	     +-+-+-+-+-+-+-+-+
//	     |   TL0PICIDX   | (CONDITIONALLY REQUIRED: L and not F)
//	     +-+-+-+-+-+-+-+-+                             -\
//	P,F: | P_DIFF      |N| (CONDITIONALLY REQUIRED)    - up to 3 times
//	     +-+-+-+-+-+-+-+-+                             -/
//	V:   | SS            |
//	     | ..            |
//	     +-+-+-+-+-+-+-+-+
//
// Scalability structure (SS):
//
//	     +-+-+-+-+-+-+-+-+
//	V:   | N_S |Y|G|-|-|-|
//	     +-+-+-+-+-+-+-+-+              -\
//	Y:   |     WIDTH     | (2 bytes)     - N_S + 1 times
//	     |     HEIGHT    | (2 bytes)     -/
//	     +-+-+-+-+-+-+-+-+
//	G:   |      N_G      |
//	     +-+-+-+-+-+-+-+-+                           -\
//	N_G: |  T  |U| R |-|-|                            - N_G times
//	     |    P_DIFF     | (R times)                 -/
//	     +-+-+-+-+-+-+-+-+
const (
	vp9I = 0x80 // picture ID present
	vp9P = 0x40 // inter-picture predicted
	vp9L = 0x20 // layer indices present
	vp9F = 0x10 // flexible mode
	vp9B = 0x08 // start of a frame
	vp9E = 0x04 // end of a frame
	vp9V = 0x02 // scalability structure present
	vp9Z = 0x01 // not a reference for upper spatial layers

	vp9M = 0x80 // 15-bit picture ID

	vp9MaxPDiff = 3

	vp9SSY = 0x10 // SS: resolutions present
	vp9SSG = 0x08 // SS: picture group description present
)

// VP9Descriptor is a parsed VP9 RTP payload descriptor (RFC 9628).
type VP9Descriptor struct {
	// HeaderSize is the length of the descriptor in bytes; the VP9 payload
	// starts at payload[HeaderSize].
	HeaderSize int

	I bool // picture ID present
	P bool // inter-picture predicted frame
	L bool // layer indices present
	F bool // flexible mode
	B bool // start of a frame
	E bool // end of a frame
	V bool // scalability structure present
	Z bool // not used as reference by upper spatial layers

	PictureID15 bool   // M bit: PictureID is 15 bits wide (two bytes)
	PictureID   uint16 // 7 or 15 bits, without the M bit
	// PictureIDOffset is the offset of the first picture ID byte (the one
	// holding the M bit) in the payload, or -1 if absent.
	PictureIDOffset int

	// Layer indices, meaningful if L; zero otherwise.
	TID uint8 // temporal layer ID, 0-7
	U   bool  // switching up point
	SID uint8 // spatial layer ID, 0-7
	D   bool  // inter-layer dependency

	TL0PICIDXPresent bool // L set and F clear
	TL0PICIDX        uint8
	// TL0PICIDXOffset is the offset of the TL0PICIDX byte in the payload,
	// or -1 if absent.
	TL0PICIDXOffset int

	// Reference indices (flexible mode with P set): PDiff[:NumPDiff].
	NumPDiff uint8
	PDiff    [vp9MaxPDiff]uint8

	// SpatialLayers is N_S+1 from the scalability structure if V, else 0.
	// The rest of the structure is validated and skipped.
	SpatialLayers uint8

	// IsKeyframe reports whether this packet is the first packet of a
	// keyframe: B set, P clear and SID 0.
	IsKeyframe bool
}

// invalidVP9 is what ParseVP9Descriptor returns with an error.
var invalidVP9 = VP9Descriptor{PictureIDOffset: -1, TL0PICIDXOffset: -1}

// ParseVP9Descriptor parses the VP9 payload descriptor at the start of an RTP
// payload, including the scalability structure, which it skips. At least one
// byte of VP9 payload must follow the descriptor, so on success
// 0 < HeaderSize < len(payload). On error (ErrShortPacket, or
// ErrInvalidDescriptor for a reference list longer than three entries) the
// descriptor is the zero value but with both offsets -1. It does not
// allocate and never panics.
func ParseVP9Descriptor(payload []byte) (VP9Descriptor, error) {
	d := VP9Descriptor{PictureIDOffset: -1, TL0PICIDXOffset: -1}
	if len(payload) == 0 {
		return invalidVP9, ErrShortPacket
	}
	b := payload[0]
	d.I = b&vp9I != 0
	d.P = b&vp9P != 0
	d.L = b&vp9L != 0
	d.F = b&vp9F != 0
	d.B = b&vp9B != 0
	d.E = b&vp9E != 0
	d.V = b&vp9V != 0
	d.Z = b&vp9Z != 0
	i := 1

	if d.I {
		if i >= len(payload) {
			return invalidVP9, ErrShortPacket
		}
		d.PictureIDOffset = i
		if payload[i]&vp9M != 0 {
			if i+1 >= len(payload) {
				return invalidVP9, ErrShortPacket
			}
			d.PictureID15 = true
			d.PictureID = uint16(payload[i]&^vp9M)<<8 | uint16(payload[i+1])
			i += 2
		} else {
			d.PictureID = uint16(payload[i])
			i++
		}
	}

	if d.L {
		if i >= len(payload) {
			return invalidVP9, ErrShortPacket
		}
		l := payload[i]
		i++
		d.TID = l >> 5
		d.U = l&0x10 != 0
		d.SID = (l >> 1) & 0x07
		d.D = l&0x01 != 0
		if !d.F {
			if i >= len(payload) {
				return invalidVP9, ErrShortPacket
			}
			d.TL0PICIDXPresent = true
			d.TL0PICIDXOffset = i
			d.TL0PICIDX = payload[i]
			i++
		}
	}

	if d.F && d.P {
		for {
			if i >= len(payload) {
				return invalidVP9, ErrShortPacket
			}
			r := payload[i]
			i++
			d.PDiff[d.NumPDiff] = r >> 1
			d.NumPDiff++
			if r&0x01 == 0 {
				break
			}
			if d.NumPDiff == vp9MaxPDiff {
				return invalidVP9, ErrInvalidDescriptor
			}
		}
	}

	if d.V {
		if i >= len(payload) {
			return invalidVP9, ErrShortPacket
		}
		ss := payload[i]
		i++
		ns := int(ss>>5) + 1
		d.SpatialLayers = uint8(ns)
		if ss&vp9SSY != 0 {
			i += 4 * ns // WIDTH and HEIGHT, 16 bits each, per spatial layer
			if i > len(payload) {
				return invalidVP9, ErrShortPacket
			}
		}
		if ss&vp9SSG != 0 {
			if i >= len(payload) {
				return invalidVP9, ErrShortPacket
			}
			ng := int(payload[i])
			i++
			for range ng {
				if i >= len(payload) {
					return invalidVP9, ErrShortPacket
				}
				r := int(payload[i]>>2) & 0x03
				i += 1 + r
				if i > len(payload) {
					return invalidVP9, ErrShortPacket
				}
			}
		}
	}

	if i >= len(payload) {
		return invalidVP9, ErrShortPacket
	}
	d.HeaderSize = i
	d.IsKeyframe = d.B && !d.P && d.SID == 0
	return d, nil
}

func vp9KeyframeStart(payload []byte) bool {
	// Cheap rejection of the common case: not the start of an intra frame.
	if len(payload) < 2 || payload[0]&(vp9B|vp9P) != vp9B {
		return false
	}
	d, err := ParseVP9Descriptor(payload)
	return err == nil && d.IsKeyframe
}
