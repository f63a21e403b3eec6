package codec

// VP8 payload descriptor (RFC 7741, section 4.2):
//
//	      0 1 2 3 4 5 6 7
//	     +-+-+-+-+-+-+-+-+
//	     |X|R|N|S|R| PID | (REQUIRED)
//	     +-+-+-+-+-+-+-+-+
//	X:   |I|L|T|K| RSV   | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//	I:   |M| PictureID   | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//	     |   PictureID   | (present if M)
//	     +-+-+-+-+-+-+-+-+
//	L:   |   TL0PICIDX   | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//	T/K: |TID|Y| KEYIDX  | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//
// followed by the VP8 payload, whose first byte, in the first packet of a
// frame, is |Size0|H| VER |P| with P (bit 0) the inverse keyframe flag.
const (
	vp8X       = 0x80 // extended control bits present
	vp8N       = 0x20 // non-reference frame
	vp8S       = 0x10 // start of VP8 partition
	vp8PIDMask = 0x07

	vp8I = 0x80 // PictureID present
	vp8L = 0x40 // TL0PICIDX present
	vp8T = 0x20 // TID present
	vp8K = 0x10 // KEYIDX present

	vp8M = 0x80 // 15-bit PictureID

	vp8PBit = 0x01 // inverse keyframe flag in the VP8 payload header
)

// VP8Descriptor is a parsed VP8 RTP payload descriptor (RFC 7741).
type VP8Descriptor struct {
	// HeaderSize is the length of the descriptor in bytes; the VP8 payload
	// starts at payload[HeaderSize].
	HeaderSize int

	N   bool  // non-reference frame
	S   bool  // start of a VP8 partition
	PID uint8 // partition index, 0-7

	PictureIDPresent bool   // I bit
	PictureID15      bool   // M bit: PictureID is 15 bits wide (two bytes)
	PictureID        uint16 // 7 or 15 bits, without the M bit
	// PictureIDOffset is the offset in the payload of the first PictureID
	// byte (the one holding the M bit), or -1 if absent. The field is one
	// byte long, or two if PictureID15.
	PictureIDOffset int

	TL0PICIDXPresent bool // L bit
	TL0PICIDX        uint8
	// TL0PICIDXOffset is the offset of the TL0PICIDX byte in the payload,
	// or -1 if absent.
	TL0PICIDXOffset int

	TIDPresent    bool  // T bit
	TID           uint8 // temporal layer index, 0-3
	Y             bool  // layer sync
	KeyIdxPresent bool  // K bit
	KeyIdx        uint8 // temporal key frame index, 0-31

	// IsKeyframe reports whether this packet is the first packet of a
	// keyframe: S is set, PID is 0 and the P bit of the VP8 payload header
	// is 0.
	IsKeyframe bool
}

// invalidVP8 is what ParseVP8Descriptor returns with an error.
var invalidVP8 = VP8Descriptor{PictureIDOffset: -1, TL0PICIDXOffset: -1}

// ParseVP8Descriptor parses the VP8 payload descriptor at the start of an RTP
// payload. At least one byte of VP8 payload must follow the descriptor, so on
// success 0 < HeaderSize < len(payload). On error, which is ErrShortPacket,
// the descriptor is the zero value but with both offsets -1. Reserved bits
// are ignored, as RFC 7741 requires. It does not allocate and never panics.
func ParseVP8Descriptor(payload []byte) (VP8Descriptor, error) {
	d := VP8Descriptor{PictureIDOffset: -1, TL0PICIDXOffset: -1}
	if len(payload) == 0 {
		return invalidVP8, ErrShortPacket
	}
	b := payload[0]
	d.N = b&vp8N != 0
	d.S = b&vp8S != 0
	d.PID = b & vp8PIDMask
	i := 1
	if b&vp8X != 0 {
		if i >= len(payload) {
			return invalidVP8, ErrShortPacket
		}
		x := payload[i]
		i++
		if x&vp8I != 0 {
			if i >= len(payload) {
				return invalidVP8, ErrShortPacket
			}
			d.PictureIDPresent = true
			d.PictureIDOffset = i
			if payload[i]&vp8M != 0 {
				if i+1 >= len(payload) {
					return invalidVP8, ErrShortPacket
				}
				d.PictureID15 = true
				d.PictureID = uint16(payload[i]&^vp8M)<<8 | uint16(payload[i+1])
				i += 2
			} else {
				d.PictureID = uint16(payload[i])
				i++
			}
		}
		if x&vp8L != 0 {
			if i >= len(payload) {
				return invalidVP8, ErrShortPacket
			}
			d.TL0PICIDXPresent = true
			d.TL0PICIDXOffset = i
			d.TL0PICIDX = payload[i]
			i++
		}
		if x&(vp8T|vp8K) != 0 {
			if i >= len(payload) {
				return invalidVP8, ErrShortPacket
			}
			tk := payload[i]
			i++
			if x&vp8T != 0 {
				d.TIDPresent = true
				d.TID = tk >> 6
				d.Y = tk&0x20 != 0
			}
			if x&vp8K != 0 {
				d.KeyIdxPresent = true
				d.KeyIdx = tk & 0x1f
			}
		}
	}
	if i >= len(payload) {
		return invalidVP8, ErrShortPacket
	}
	d.HeaderSize = i
	d.IsKeyframe = d.S && d.PID == 0 && payload[i]&vp8PBit == 0
	return d, nil
}

func vp8KeyframeStart(payload []byte) bool {
	// Cheap rejection of the common case, packets that do not start a frame.
	if len(payload) < 2 || payload[0]&(vp8S|vp8PIDMask) != vp8S {
		return false
	}
	d, err := ParseVP8Descriptor(payload)
	return err == nil && d.IsKeyframe
}

// SetPictureID writes id into the PictureID field of payload, whose descriptor d was parsed from
// it, keeping the field's width: a 7-bit field takes the low 7 bits of id. It does nothing if the
// descriptor has no PictureID.
func (d VP8Descriptor) SetPictureID(payload []byte, id uint16) {
	if !d.PictureIDPresent || d.PictureIDOffset < 0 {
		return
	}
	if d.PictureID15 {
		payload[d.PictureIDOffset] = vp8M | byte(id>>8)&0x7f
		payload[d.PictureIDOffset+1] = byte(id)
		return
	}
	payload[d.PictureIDOffset] = byte(id) & 0x7f
}

// SetTL0PICIDX writes v into the TL0PICIDX field of payload, if the descriptor d has one.
func (d VP8Descriptor) SetTL0PICIDX(payload []byte, v uint8) {
	if d.TL0PICIDXPresent && d.TL0PICIDXOffset >= 0 {
		payload[d.TL0PICIDXOffset] = v
	}
}
