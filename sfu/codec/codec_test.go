package codec

import (
	"bytes"
	"errors"
	"testing"
)

// cat concatenates byte slices, to write samples as descriptor + payload.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func b(v ...byte) []byte { return v }

var (
	// Start of a VP8 keyframe: 3-byte frame tag with P=0 (0x10 0x02 0x00),
	// then the keyframe start code 0x9d 0x01 0x2a and the 14-bit width and
	// height (640x480) of RFC 6386 section 9.1.
	vp8KeyPayload = b(0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01)
	// Start of a VP8 interframe: frame tag with P=1.
	vp8DeltaPayload = b(0x31, 0x05, 0x00, 0x12, 0x34)
	// Start of a VP9 profile-0 keyframe: frame marker, KEY_FRAME, show_frame,
	// then the sync code 0x49 0x83 0x42.
	vp9KeyPayload = b(0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0)
	// Start of a VP9 interframe (frame_type = 1).
	vp9DeltaPayload = b(0x86, 0x00, 0x40, 0x92)

	h264SPS = b(0x67, 0x42, 0xc0, 0x1f) // nal_ref_idc 3, type 7, baseline 3.1
	h264PPS = b(0x68, 0xce, 0x3c, 0x80) // type 8
	h264IDR = b(0x65, 0x88, 0x84, 0x00) // type 5
	h264SEI = b(0x06, 0x05, 0x01, 0x00) // type 6
	h264P   = b(0x41, 0x9a, 0x02, 0x10) // type 1, non-IDR slice
)

// stapA builds an H.264 STAP-A payload from NAL units.
func stapA(nalus ...[]byte) []byte {
	out := []byte{0x78} // F=0, NRI=3, type 24
	for _, n := range nalus {
		out = append(out, byte(len(n)>>8), byte(len(n)))
		out = append(out, n...)
	}
	return out
}

type sample struct {
	name string
	mime string
	data []byte
	want bool // KeyframeStart of the whole payload
	// minLen is the length of the shortest prefix of data for which
	// KeyframeStart returns want; all shorter prefixes give false.
	minLen int
}

var samples = []sample{
	// VP8, RFC 7741.
	{"vp8/key picid7", "video/VP8", cat(b(0x90, 0x80, 0x05), vp8KeyPayload), true, 4},
	{"vp8/key picid15 tl0 tid", "video/VP8", cat(b(0x90, 0xe0, 0x81, 0x23, 0x07, 0x20), vp8KeyPayload), true, 7},
	{"vp8/key no extension", "video/VP8", cat(b(0x10), vp8KeyPayload), true, 2},
	{"vp8/key keyidx only", "video/VP8", cat(b(0x90, 0x10, 0x03), vp8KeyPayload), true, 4},
	{"vp8/key all fields", "video/VP8", cat(b(0xb0, 0xf0, 0xff, 0xff, 0xfe, 0xe5), vp8KeyPayload), true, 7},
	{"vp8/delta", "video/VP8", cat(b(0x90, 0x80, 0x06), vp8DeltaPayload), false, 0},
	{"vp8/delta non-reference", "video/VP8", cat(b(0xb0, 0xe0, 0x86, 0x00, 0x07, 0x80), vp8DeltaPayload), false, 0},
	{"vp8/key continuation", "video/VP8", cat(b(0x80, 0x80, 0x05), b(0x00, 0x11, 0x22)), false, 0},
	{"vp8/key partition 1 start", "video/VP8", cat(b(0x91, 0x80, 0x05), b(0x10, 0x11, 0x22)), false, 0},
	{"vp8/descriptor only", "video/VP8", b(0x90, 0x80, 0x05), false, 0},
	{"vp8/mime case", "VIDEO/vp8", cat(b(0x90, 0x80, 0x05), vp8KeyPayload), true, 4},

	// VP9, RFC 9628.
	{
		// I P L F B E V Z = 1 0 1 0 1 0 1 0; 15-bit picture ID 0x0102; layer
		// T0 S0; TL0PICIDX 5; SS with one 640x360 layer and a one-picture GOF
		// whose single entry has one P_DIFF.
		"vp9/key non-flexible ss", "video/VP9",
		cat(b(0xaa, 0x81, 0x02, 0x00, 0x05, 0x18, 0x02, 0x80, 0x01, 0x68, 0x01, 0x04, 0x01), vp9KeyPayload),
		true, 14,
	},
	{
		// Three spatial layers with resolutions, no GOF.
		"vp9/key ss three layers", "video/VP9",
		cat(b(0xaa, 0x05, 0x00, 0x09, 0x50,
			0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68, 0x05, 0x00, 0x02, 0xd0), vp9KeyPayload),
		true, 18,
	},
	{"vp9/key minimal", "video/VP9", cat(b(0x08), vp9KeyPayload), true, 2},
	{"vp9/key flexible", "video/VP9", cat(b(0xbc, 0x07, 0x00), vp9KeyPayload), true, 4},
	{"vp9/key upper spatial layer", "video/VP9", cat(b(0xbc, 0x07, 0x03), vp9KeyPayload), false, 0},
	{
		// Flexible mode interframe: I P L F B E = 1; picture ID 0x0500; T1
		// S0; two references (P_DIFF 1 with N set, P_DIFF 2).
		"vp9/delta flexible", "video/VP9",
		cat(b(0xfc, 0x85, 0x00, 0x20, 0x03, 0x04), vp9DeltaPayload), false, 0,
	},
	{"vp9/delta non-flexible", "video/VP9", cat(b(0xec, 0x11, 0x20, 0x06), vp9DeltaPayload), false, 0},
	{"vp9/key continuation", "video/VP9", cat(b(0xa4, 0x01, 0x00, 0x05), b(0x11, 0x22)), false, 0},
	{"vp9/four references", "video/VP9", cat(b(0xd8, 0x01, 0x03, 0x03, 0x03, 0x02), vp9DeltaPayload), false, 0},

	// H.264, RFC 6184.
	{"h264/idr", "video/H264", h264IDR, true, 2},
	{"h264/sps", "video/H264", h264SPS, true, 2},
	{"h264/pps", "video/H264", h264PPS, false, 0},
	{"h264/non-idr", "video/H264", h264P, false, 0},
	{"h264/forbidden bit", "video/H264", b(0xe5, 0x88, 0x84), false, 0},
	{"h264/stap-a sps pps idr", "video/H264", stapA(h264SPS, h264PPS, h264IDR), true, 7},
	{"h264/stap-a pps idr", "video/H264", stapA(h264PPS, h264IDR), true, 13},
	{"h264/stap-a pps sei", "video/H264", stapA(h264PPS, h264SEI), false, 0},
	{"h264/stap-a sizes overrun", "video/H264", b(0x78, 0x00, 0x09, 0x67, 0x42, 0xc0, 0x1f), false, 0},
	{"h264/stap-a zero size", "video/H264", b(0x78, 0x00, 0x00, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x1f), false, 0},
	{"h264/fu-a start idr", "video/H264", b(0x7c, 0x85, 0x88, 0x84, 0x00), true, 3},
	{"h264/fu-a start sps", "video/H264", b(0x7c, 0x87, 0x42, 0xc0), true, 3},
	{"h264/fu-a middle idr", "video/H264", b(0x7c, 0x05, 0x11, 0x22), false, 0},
	{"h264/fu-a end idr", "video/H264", b(0x7c, 0x45, 0x11, 0x22), false, 0},
	{"h264/fu-a start and end", "video/H264", b(0x7c, 0xc5, 0x11, 0x22), false, 0},
	{"h264/fu-a start non-idr", "video/H264", b(0x5c, 0x81, 0x9a, 0x02), false, 0},
	{"h264/mime case", "video/h264", h264IDR, true, 2},

	// AV1: aggregation header, then OBUs.
	{"av1/key W=1", "video/AV1", b(0x18, 0x08, 0x00, 0x00, 0x00, 0x24, 0x4f), true, 2},
	{"av1/key W=0", "video/AV1", b(0x08, 0x0b, 0x08, 0x00, 0x00, 0x00, 0x24), true, 2},
	{"av1/delta", "video/AV1", b(0x10, 0x30, 0x10, 0x22, 0x33), false, 0},
	{"av1/continuation with N", "video/AV1", b(0x98, 0x30, 0x10), false, 0},
	{"av1/fragment continues", "video/AV1", b(0x50, 0x30, 0x10), false, 0},

	// Not video codecs this package knows.
	{"opus", "audio/opus", b(0x90, 0x80, 0x05, 0x10), false, 0},
	{"h265", "video/H265", b(0x26, 0x01, 0xaf), false, 0},
	{"empty mime", "", h264IDR, false, 0},
}

func TestKeyframeStart(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			if got := KeyframeStart(s.mime, s.data); got != s.want {
				t.Errorf("KeyframeStart(%q, % x) = %v, want %v", s.mime, s.data, got, s.want)
			}
			if got := KindOf(s.mime).KeyframeStart(s.data); got != s.want {
				t.Errorf("Kind.KeyframeStart = %v, want %v", got, s.want)
			}
		})
	}
}

// TestKeyframeStartTruncated feeds every prefix of every sample: none may
// panic, prefixes shorter than minLen must give false and longer ones the
// same answer as the whole sample.
func TestKeyframeStartTruncated(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			for n := 0; n <= len(s.data); n++ {
				p := s.data[:n:n] // no spare capacity to read by mistake
				want := s.want && n >= s.minLen
				if got := KeyframeStart(s.mime, p); got != want {
					t.Errorf("prefix %d (% x): got %v, want %v", n, p, got, want)
				}
			}
		})
	}
}

// TestKeyframeStartAllKinds runs every sample through every kind, which must
// not panic, and checks that only the sample's own kind may say true.
func TestKeyframeStartAllKinds(t *testing.T) {
	for _, s := range samples {
		for k := Unknown; k <= Audio+1; k++ {
			for n := 0; n <= len(s.data); n++ {
				got := k.KeyframeStart(s.data[:n:n])
				if got && (k == Unknown || k == Audio || k > Audio) {
					t.Errorf("%s: kind %v said true", s.name, k)
				}
			}
		}
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		mime string
		want Kind
	}{
		{"video/VP8", VP8},
		{"video/vp8", VP8},
		{"VIDEO/VP8", VP8},
		{"video/VP9", VP9},
		{"video/H264", H264},
		{"video/h264", H264},
		{"video/AV1", AV1},
		{"video/av1", AV1},
		{"audio/opus", Audio},
		{"AUDIO/PCMU", Audio},
		{"audio/", Unknown},
		{"video/H265", Unknown},
		{"video/VP8 ", Unknown},
		{"video/VP80", Unknown},
		{"vp8", Unknown},
		{"", Unknown},
	}
	for _, tt := range tests {
		if got := KindOf(tt.mime); got != tt.want {
			t.Errorf("KindOf(%q) = %v, want %v", tt.mime, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{Unknown: "unknown", VP8: "VP8", VP9: "VP9", H264: "H264", AV1: "AV1", Audio: "audio", 200: "unknown"}
	for k, s := range want {
		if got := k.String(); got != s {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, s)
		}
	}
}

func TestParseVP8Descriptor(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want VP8Descriptor
		err  error
	}{
		{
			name: "keyframe picid7",
			data: cat(b(0x90, 0x80, 0x05), vp8KeyPayload),
			want: VP8Descriptor{
				HeaderSize: 3, S: true,
				PictureIDPresent: true, PictureID: 5, PictureIDOffset: 2,
				TL0PICIDXOffset: -1, IsKeyframe: true,
			},
		},
		{
			name: "keyframe picid15 tl0 tid",
			data: cat(b(0x90, 0xe0, 0x81, 0x23, 0x07, 0x20), vp8KeyPayload),
			want: VP8Descriptor{
				HeaderSize: 6, S: true,
				PictureIDPresent: true, PictureID15: true, PictureID: 0x0123, PictureIDOffset: 2,
				TL0PICIDXPresent: true, TL0PICIDX: 7, TL0PICIDXOffset: 4,
				TIDPresent: true, TID: 0, Y: true,
				IsKeyframe: true,
			},
		},
		{
			name: "all fields",
			data: cat(b(0xb0, 0xf0, 0xff, 0xff, 0xfe, 0xe5), vp8KeyPayload),
			want: VP8Descriptor{
				HeaderSize: 6, N: true, S: true,
				PictureIDPresent: true, PictureID15: true, PictureID: 0x7fff, PictureIDOffset: 2,
				TL0PICIDXPresent: true, TL0PICIDX: 0xfe, TL0PICIDXOffset: 4,
				TIDPresent: true, TID: 3, Y: true, KeyIdxPresent: true, KeyIdx: 5,
				IsKeyframe: true,
			},
		},
		{
			name: "no extension",
			data: cat(b(0x10), vp8KeyPayload),
			want: VP8Descriptor{HeaderSize: 1, S: true, PictureIDOffset: -1, TL0PICIDXOffset: -1, IsKeyframe: true},
		},
		{
			name: "extension with no fields, reserved bits set",
			data: cat(b(0xd0, 0x0f), vp8KeyPayload),
			want: VP8Descriptor{HeaderSize: 2, S: true, PictureIDOffset: -1, TL0PICIDXOffset: -1, IsKeyframe: true},
		},
		{
			name: "keyidx only",
			data: cat(b(0x90, 0x10, 0xc3), vp8KeyPayload),
			want: VP8Descriptor{
				HeaderSize: 3, S: true, PictureIDOffset: -1, TL0PICIDXOffset: -1,
				KeyIdxPresent: true, KeyIdx: 3, IsKeyframe: true,
			},
		},
		{
			name: "tl0picidx only",
			data: cat(b(0x80, 0x40, 0x2a), b(0x00, 0x01)),
			want: VP8Descriptor{
				HeaderSize: 3, PictureIDOffset: -1,
				TL0PICIDXPresent: true, TL0PICIDX: 0x2a, TL0PICIDXOffset: 2,
			},
		},
		{
			name: "delta",
			data: cat(b(0x90, 0x80, 0x06), vp8DeltaPayload),
			want: VP8Descriptor{
				HeaderSize: 3, S: true, PictureIDPresent: true, PictureID: 6, PictureIDOffset: 2,
				TL0PICIDXOffset: -1,
			},
		},
		{
			name: "second partition of a keyframe",
			data: cat(b(0x91, 0x80, 0x05), b(0x10, 0x11)),
			want: VP8Descriptor{
				HeaderSize: 3, S: true, PID: 1, PictureIDPresent: true, PictureID: 5, PictureIDOffset: 2,
				TL0PICIDXOffset: -1,
			},
		},
		{name: "empty", data: nil, want: invalidVP8, err: ErrShortPacket},
		{name: "extension missing", data: b(0x90), want: invalidVP8, err: ErrShortPacket},
		{name: "picid missing", data: b(0x90, 0x80), want: invalidVP8, err: ErrShortPacket},
		{name: "picid15 second byte missing", data: b(0x90, 0x80, 0x81), want: invalidVP8, err: ErrShortPacket},
		{name: "tl0picidx missing", data: b(0x90, 0xc0, 0x01), want: invalidVP8, err: ErrShortPacket},
		{name: "tid missing", data: b(0x90, 0xe0, 0x01, 0x02), want: invalidVP8, err: ErrShortPacket},
		{name: "no payload", data: b(0x90, 0x80, 0x05), want: invalidVP8, err: ErrShortPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVP8Descriptor(tt.data)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if tt.err == nil {
				checkVP8Descriptor(t, tt.data, got)
			}
		})
	}
}

// TestParseVP8DescriptorTruncated checks that every prefix of every VP8
// sample fails with ErrShortPacket up to the first payload byte and parses to
// the same descriptor from there on.
func TestParseVP8DescriptorTruncated(t *testing.T) {
	for _, s := range samples {
		if KindOf(s.mime) != VP8 {
			continue
		}
		full, fullErr := ParseVP8Descriptor(s.data)
		for n := 0; n <= len(s.data); n++ {
			d, err := ParseVP8Descriptor(s.data[:n:n])
			if fullErr != nil || n <= full.HeaderSize {
				if !errors.Is(err, ErrShortPacket) || d != invalidVP8 {
					t.Errorf("%s: prefix %d: got %+v, %v; want ErrShortPacket", s.name, n, d, err)
				}
				continue
			}
			if err != nil || d != full {
				t.Errorf("%s: prefix %d: got %+v, %v; want %+v", s.name, n, d, err, full)
			}
		}
	}
}

func TestParseVP9Descriptor(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want VP9Descriptor
		err  error
	}{
		{
			name: "keyframe non-flexible with ss",
			data: cat(b(0xaa, 0x81, 0x02, 0x00, 0x05, 0x18, 0x02, 0x80, 0x01, 0x68, 0x01, 0x04, 0x01), vp9KeyPayload),
			want: VP9Descriptor{
				HeaderSize: 13, I: true, L: true, B: true, V: true,
				PictureID15: true, PictureID: 0x0102, PictureIDOffset: 1,
				TL0PICIDXPresent: true, TL0PICIDX: 5, TL0PICIDXOffset: 4,
				SpatialLayers: 1, IsKeyframe: true,
			},
		},
		{
			name: "keyframe three spatial layers",
			data: cat(b(0xaa, 0x05, 0x00, 0x09, 0x50,
				0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68, 0x05, 0x00, 0x02, 0xd0), vp9KeyPayload),
			want: VP9Descriptor{
				HeaderSize: 17, I: true, L: true, B: true, V: true,
				PictureID: 5, PictureIDOffset: 1,
				TL0PICIDXPresent: true, TL0PICIDX: 9, TL0PICIDXOffset: 3,
				SpatialLayers: 3, IsKeyframe: true,
			},
		},
		{
			name: "minimal keyframe",
			data: cat(b(0x08), vp9KeyPayload),
			want: VP9Descriptor{HeaderSize: 1, B: true, PictureIDOffset: -1, TL0PICIDXOffset: -1, IsKeyframe: true},
		},
		{
			name: "upper spatial layer of a keyframe",
			data: cat(b(0xbc, 0x07, 0x03), vp9KeyPayload),
			want: VP9Descriptor{
				HeaderSize: 3, I: true, L: true, F: true, B: true, E: true,
				PictureID: 7, PictureIDOffset: 1, TL0PICIDXOffset: -1,
				SID: 1, D: true,
			},
		},
		{
			name: "flexible interframe",
			data: cat(b(0xfc, 0x85, 0x00, 0x20, 0x03, 0x04), vp9DeltaPayload),
			want: VP9Descriptor{
				HeaderSize: 6, I: true, P: true, L: true, F: true, B: true, E: true,
				PictureID15: true, PictureID: 0x0500, PictureIDOffset: 1, TL0PICIDXOffset: -1,
				TID: 1, NumPDiff: 2, PDiff: [3]uint8{1, 2, 0},
			},
		},
		{
			name: "three references",
			data: cat(b(0xd8, 0x01, 0x03, 0x05, 0x06), vp9DeltaPayload),
			want: VP9Descriptor{
				HeaderSize: 5, I: true, P: true, F: true, B: true,
				PictureID: 1, PictureIDOffset: 1, TL0PICIDXOffset: -1,
				NumPDiff: 3, PDiff: [3]uint8{1, 2, 3},
			},
		},
		{
			name: "non-flexible interframe, Z and U",
			data: cat(b(0xe5, 0x11, 0x53, 0x06), vp9DeltaPayload),
			want: VP9Descriptor{
				HeaderSize: 4, I: true, P: true, L: true, E: true, Z: true,
				PictureID: 0x11, PictureIDOffset: 1,
				TID: 2, U: true, SID: 1, D: true,
				TL0PICIDXPresent: true, TL0PICIDX: 6, TL0PICIDXOffset: 3,
			},
		},
		{name: "empty", data: nil, want: invalidVP9, err: ErrShortPacket},
		{name: "four references", data: cat(b(0xd8, 0x01, 0x03, 0x03, 0x03, 0x02), vp9DeltaPayload), want: invalidVP9, err: ErrInvalidDescriptor},
		{name: "picid missing", data: b(0x88), want: invalidVP9, err: ErrShortPacket},
		{name: "tl0picidx missing", data: b(0xa8, 0x01, 0x00), want: invalidVP9, err: ErrShortPacket},
		{name: "ss resolutions cut", data: b(0x0a, 0x30, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80), want: invalidVP9, err: ErrShortPacket},
		{name: "ss gof cut", data: b(0x0a, 0x08, 0x02, 0x04, 0x01, 0x0c), want: invalidVP9, err: ErrShortPacket},
		{name: "no payload", data: b(0xa8, 0x01, 0x00, 0x05), want: invalidVP9, err: ErrShortPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVP9Descriptor(tt.data)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if tt.err == nil {
				checkVP9Descriptor(t, tt.data, got)
			}
		})
	}
}

// TestAllocs checks that the per-packet functions allocate nothing.
func TestAllocs(t *testing.T) {
	sink := 0
	allocs := testing.AllocsPerRun(100, func() {
		for _, s := range samples {
			if KeyframeStart(s.mime, s.data) {
				sink++
			}
			if KindOf(s.mime).KeyframeStart(s.data) {
				sink++
			}
			if d, err := ParseVP8Descriptor(s.data); err == nil && d.IsKeyframe {
				sink++
			}
			if d, err := ParseVP9Descriptor(s.data); err == nil && d.IsKeyframe {
				sink++
			}
		}
	})
	if allocs != 0 {
		t.Errorf("allocations per run = %v, want 0", allocs)
	}
	_ = sink
}

// checkVP8Descriptor checks the invariants of a successfully parsed VP8
// descriptor against the bytes it came from.
func checkVP8Descriptor(t *testing.T, p []byte, d VP8Descriptor) {
	t.Helper()
	if d.HeaderSize < 1 || d.HeaderSize >= len(p) {
		t.Fatalf("HeaderSize %d out of range for %d bytes", d.HeaderSize, len(p))
	}
	if d.S != (p[0]&0x10 != 0) || d.N != (p[0]&0x20 != 0) || d.PID != p[0]&0x07 {
		t.Errorf("first byte %#x disagrees with %+v", p[0], d)
	}
	if d.PictureIDPresent {
		w := 1
		if d.PictureID15 {
			w = 2
		}
		o := d.PictureIDOffset
		if o < 2 || o+w > d.HeaderSize {
			t.Fatalf("PictureIDOffset %d (width %d) outside descriptor of %d bytes", o, w, d.HeaderSize)
		}
		if d.PictureID15 != (p[o]&0x80 != 0) {
			t.Errorf("PictureID15 %v but M bit of %#x", d.PictureID15, p[o])
		}
		v := uint16(p[o] & 0x7f)
		if d.PictureID15 {
			v = v<<8 | uint16(p[o+1])
		}
		if v != d.PictureID {
			t.Errorf("PictureID %d, bytes at offset say %d", d.PictureID, v)
		}
	} else if d.PictureIDOffset != -1 || d.PictureID != 0 || d.PictureID15 {
		t.Errorf("absent PictureID but %+v", d)
	}
	if d.TL0PICIDXPresent {
		o := d.TL0PICIDXOffset
		if o < 2 || o >= d.HeaderSize {
			t.Fatalf("TL0PICIDXOffset %d outside descriptor of %d bytes", o, d.HeaderSize)
		}
		if p[o] != d.TL0PICIDX {
			t.Errorf("TL0PICIDX %d, byte at offset is %d", d.TL0PICIDX, p[o])
		}
		if d.PictureIDPresent && o <= d.PictureIDOffset {
			t.Errorf("TL0PICIDXOffset %d not after PictureIDOffset %d", o, d.PictureIDOffset)
		}
	} else if d.TL0PICIDXOffset != -1 || d.TL0PICIDX != 0 {
		t.Errorf("absent TL0PICIDX but %+v", d)
	}
	if d.TID > 3 || d.KeyIdx > 31 || (!d.TIDPresent && (d.TID != 0 || d.Y)) || (!d.KeyIdxPresent && d.KeyIdx != 0) {
		t.Errorf("bad TID/KEYIDX fields %+v", d)
	}
	if want := d.S && d.PID == 0 && p[d.HeaderSize]&0x01 == 0; d.IsKeyframe != want {
		t.Errorf("IsKeyframe %v, want %v", d.IsKeyframe, want)
	}
}

// checkVP9Descriptor checks the invariants of a successfully parsed VP9
// descriptor against the bytes it came from.
func checkVP9Descriptor(t *testing.T, p []byte, d VP9Descriptor) {
	t.Helper()
	if d.HeaderSize < 1 || d.HeaderSize >= len(p) {
		t.Fatalf("HeaderSize %d out of range for %d bytes", d.HeaderSize, len(p))
	}
	if d.I {
		o := d.PictureIDOffset
		w := 1
		if d.PictureID15 {
			w = 2
		}
		if o != 1 || o+w > d.HeaderSize {
			t.Fatalf("PictureIDOffset %d (width %d) outside descriptor of %d bytes", o, w, d.HeaderSize)
		}
		v := uint16(p[o] & 0x7f)
		if d.PictureID15 {
			v = v<<8 | uint16(p[o+1])
		}
		if v != d.PictureID {
			t.Errorf("PictureID %d, bytes at offset say %d", d.PictureID, v)
		}
	} else if d.PictureIDOffset != -1 {
		t.Errorf("absent PictureID but offset %d", d.PictureIDOffset)
	}
	if d.TL0PICIDXPresent != (d.L && !d.F) {
		t.Errorf("TL0PICIDXPresent %v with L=%v F=%v", d.TL0PICIDXPresent, d.L, d.F)
	}
	if d.TL0PICIDXPresent {
		o := d.TL0PICIDXOffset
		if o < 2 || o >= d.HeaderSize || p[o] != d.TL0PICIDX {
			t.Errorf("TL0PICIDXOffset %d bad for %+v", o, d)
		}
	} else if d.TL0PICIDXOffset != -1 {
		t.Errorf("absent TL0PICIDX but offset %d", d.TL0PICIDXOffset)
	}
	if d.NumPDiff > 3 || (d.NumPDiff > 0) != (d.F && d.P) {
		t.Errorf("NumPDiff %d with F=%v P=%v", d.NumPDiff, d.F, d.P)
	}
	if (d.SpatialLayers > 0) != d.V || d.SpatialLayers > 8 {
		t.Errorf("SpatialLayers %d with V=%v", d.SpatialLayers, d.V)
	}
	if want := d.B && !d.P && d.SID == 0; d.IsKeyframe != want {
		t.Errorf("IsKeyframe %v, want %v", d.IsKeyframe, want)
	}
}

// FuzzKeyframeStart checks that KeyframeStart never panics, never modifies
// its input and agrees with the typed and parsing forms. Every payload is
// also run through every kind, whatever the MIME type.
func FuzzKeyframeStart(f *testing.F) {
	for _, s := range samples {
		f.Add(s.mime, s.data)
	}
	f.Fuzz(func(t *testing.T, mime string, p []byte) {
		orig := bytes.Clone(p)
		got := KeyframeStart(mime, p)
		k := KindOf(mime)
		if k.KeyframeStart(p) != got {
			t.Fatalf("KeyframeStart and Kind.KeyframeStart disagree")
		}
		if got && (k == Unknown || k == Audio) {
			t.Fatalf("KeyframeStart(%q) true for kind %v", mime, k)
		}
		for k := Unknown; k <= Audio; k++ {
			r := k.KeyframeStart(p)
			switch k {
			case VP8:
				d, err := ParseVP8Descriptor(p)
				if r != (err == nil && d.IsKeyframe) {
					t.Fatalf("VP8: KeyframeStart %v, ParseVP8Descriptor %+v, %v", r, d, err)
				}
			case VP9:
				d, err := ParseVP9Descriptor(p)
				if r != (err == nil && d.IsKeyframe) {
					t.Fatalf("VP9: KeyframeStart %v, ParseVP9Descriptor %+v, %v", r, d, err)
				}
			case H264:
				if r && (len(p) < 2 || p[0]&0x80 != 0) {
					t.Fatalf("H264: true for % x", p)
				}
				if r {
					switch p[0] & 0x1f {
					case 5, 7, 24, 28:
					default:
						t.Fatalf("H264: true for NAL type %d", p[0]&0x1f)
					}
				}
			case AV1:
				if r != (len(p) >= 2 && p[0]&0x88 == 0x08) {
					t.Fatalf("AV1: %v for % x", r, p)
				}
			case Unknown, Audio:
				if r {
					t.Fatalf("kind %v said true", k)
				}
			}
		}
		if !bytes.Equal(p, orig) {
			t.Fatalf("payload modified")
		}
	})
}

// FuzzParseVP8Descriptor checks that ParseVP8Descriptor never panics and
// that its results are consistent with the bytes: header size and offsets in
// bounds, values read from the offsets, and stable under truncation after
// the header.
func FuzzParseVP8Descriptor(f *testing.F) {
	for _, s := range samples {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := ParseVP8Descriptor(p)
		if err != nil {
			if !errors.Is(err, ErrShortPacket) {
				t.Fatalf("unexpected error %v", err)
			}
			if d != invalidVP8 {
				t.Fatalf("descriptor with error: %+v", d)
			}
			return
		}
		checkVP8Descriptor(t, p, d)
		if d2, err := ParseVP8Descriptor(p[:d.HeaderSize+1]); err != nil || d2 != d {
			t.Fatalf("header plus one byte parses to %+v, %v; want %+v", d2, err, d)
		}
		if _, err := ParseVP8Descriptor(p[:d.HeaderSize]); !errors.Is(err, ErrShortPacket) {
			t.Fatalf("descriptor without payload: err %v", err)
		}
	})
}

// FuzzParseVP9Descriptor is FuzzParseVP8Descriptor for VP9.
func FuzzParseVP9Descriptor(f *testing.F) {
	for _, s := range samples {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := ParseVP9Descriptor(p)
		if err != nil {
			if !errors.Is(err, ErrShortPacket) && !errors.Is(err, ErrInvalidDescriptor) {
				t.Fatalf("unexpected error %v", err)
			}
			if d != invalidVP9 {
				t.Fatalf("descriptor with error: %+v", d)
			}
			return
		}
		checkVP9Descriptor(t, p, d)
		if d2, err := ParseVP9Descriptor(p[:d.HeaderSize+1]); err != nil || d2 != d {
			t.Fatalf("header plus one byte parses to %+v, %v; want %+v", d2, err, d)
		}
		if _, err := ParseVP9Descriptor(p[:d.HeaderSize]); !errors.Is(err, ErrShortPacket) {
			t.Fatalf("descriptor without payload: err %v", err)
		}
	})
}

func BenchmarkKeyframeStart(b *testing.B) {
	for _, s := range samples[:4] {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				KeyframeStart(s.mime, s.data)
			}
		})
	}
	b.Run("kind", func(b *testing.B) {
		k, p := VP8, samples[0].data
		for b.Loop() {
			k.KeyframeStart(p)
		}
	})
}
