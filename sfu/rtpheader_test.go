package sfu

import (
	"testing"

	"github.com/pion/rtp"
)

func TestParseRTPMatchesPion(t *testing.T) {
	cases := []rtp.Packet{
		{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 65535, Timestamp: 1 << 31, SSRC: 42, Marker: true}, Payload: []byte{1, 2, 3}},
		{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 7, CSRC: []uint32{1, 2}}, Payload: []byte{9}},
		withExtensions(rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 8}, Payload: []byte{5, 6, 7, 8}}),
		{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 9, Padding: true, PaddingSize: 4}, Payload: []byte{1, 2}},
	}
	for i, pkt := range cases {
		b, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseRTP(b)
		if !ok {
			t.Fatalf("case %d: not parsed", i)
		}
		if got.seq != pkt.SequenceNumber || got.timestamp != pkt.Timestamp || got.ssrc != pkt.SSRC ||
			got.payloadType != pkt.PayloadType || got.marker != pkt.Marker {
			t.Errorf("case %d: header %+v, want %+v", i, got, pkt.Header)
		}
		if payload := b[got.payloadStart:got.payloadEnd]; string(payload) != string(pkt.Payload) {
			t.Errorf("case %d: payload %v, want %v", i, payload, pkt.Payload)
		}
	}
}

func withExtensions(p rtp.Packet) rtp.Packet {
	_ = p.Header.SetExtension(1, []byte{0xaa})
	_ = p.Header.SetExtension(3, []byte{1, 2, 3})
	return p
}

func TestSeqBefore(t *testing.T) {
	for _, c := range []struct {
		a, b uint16
		want bool
	}{{1, 2, true}, {2, 1, false}, {65535, 0, true}, {0, 65535, false}, {5, 5, false}, {0, 0x7fff, true}} {
		if got := seqBefore(c.a, c.b); got != c.want {
			t.Errorf("seqBefore(%d, %d) = %v", c.a, c.b, got)
		}
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff})
	f.Add([]byte{0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0, 7})
	f.Add([]byte{0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 0, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parseRTP(b)
		if !ok {
			return
		}
		if p.payloadStart < 12 || p.payloadStart > p.payloadEnd || p.payloadEnd > len(b) {
			t.Fatalf("payload bounds %d:%d of %d bytes", p.payloadStart, p.payloadEnd, len(b))
		}
		var h rtp.Header
		if n, err := h.Unmarshal(b); err == nil && n != p.payloadStart {
			t.Fatalf("payload starts at %d, Pion says %d", p.payloadStart, n)
		}
		for id := uint8(1); id < 16; id++ {
			// Two-byte elements may be empty (RFC 8285); none may run past the header.
			if v, ok := headerExtension(b, &p, id); ok && (len(v) > p.payloadStart-p.extStart || (len(v) == 0 && p.extProfile == 0xBEDE)) {
				t.Fatalf("extension %d: %d bytes", id, len(v))
			}
		}
	})
}

func TestHeaderExtension(t *testing.T) {
	for _, twoByte := range []bool{false, true} {
		p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 1}, Payload: []byte{9, 9}}
		if twoByte {
			p.Header.Extension, p.Header.ExtensionProfile = true, 0x1000
		}
		_ = p.Header.SetExtension(1, []byte{0xaa, 0xbb})
		_ = p.Header.SetExtension(5, []byte{0x80 | 42})
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		h, ok := parseRTP(b)
		if !ok {
			t.Fatal("not parsed")
		}
		if v, ok := headerExtension(b, &h, 5); !ok || len(v) != 1 || v[0] != 0x80|42 {
			t.Errorf("two-byte=%v: extension 5 = %v %v", twoByte, v, ok)
		}
		if v, ok := headerExtension(b, &h, 1); !ok || string(v) != "\xaa\xbb" {
			t.Errorf("two-byte=%v: extension 1 = %v %v", twoByte, v, ok)
		}
		if _, ok := headerExtension(b, &h, 7); ok {
			t.Errorf("two-byte=%v: found an extension that is not there", twoByte)
		}
	}
}
