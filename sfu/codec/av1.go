package codec

// AV1 RTP payload (AOM "RTP Payload Format for AV1", section 4.4). Every
// payload starts with an aggregation header:
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	|Z|Y| W |N|-|-|-|
//	+-+-+-+-+-+-+-+-+
//
// Z: the first OBU element continues an OBU from the previous packet.
// Y: the last OBU element continues in the next packet.
// W: number of OBU elements, or 0 if each carries a length field.
// N: this is the first packet of a coded video sequence.
const (
	av1Z = 0x80
	av1N = 0x08
)

func av1KeyframeStart(payload []byte) bool {
	// N set, Z clear, and at least one byte of OBU data after the header.
	return len(payload) >= 2 && payload[0]&(av1Z|av1N) == av1N
}
