package bwe

import (
	"bytes"
	"testing"

	"github.com/pion/rtcp"
)

type reported struct {
	seq      uint16
	received bool
	arrival  int64
}

// pionWalk is what Pion's rtcp package makes of a feedback: the reference for walkFeedback.
func pionWalk(fb *rtcp.TransportLayerCC) []reported {
	var out []reported
	seq := fb.BaseSequenceNumber
	arrival := int64(fb.ReferenceTime) * referenceUnit
	if fb.ReferenceTime&0x800000 != 0 {
		arrival = (int64(fb.ReferenceTime) - 1<<24) * referenceUnit
	}
	left := int(fb.PacketStatusCount)
	deltas := fb.RecvDeltas
	one := func(sym uint16) {
		if left <= 0 {
			return
		}
		left--
		r := reported{seq: seq}
		seq++
		if (sym == rtcp.TypeTCCPacketReceivedSmallDelta || sym == rtcp.TypeTCCPacketReceivedLargeDelta) && len(deltas) > 0 {
			arrival += deltas[0].Delta * 1000
			deltas = deltas[1:]
			r.received, r.arrival = true, arrival
		}
		out = append(out, r)
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range c.RunLength {
				one(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList {
				if c.SymbolSize == rtcp.TypeTCCSymbolSizeOneBit && sym == 1 {
					sym = rtcp.TypeTCCPacketReceivedSmallDelta
				}
				one(sym)
			}
		}
	}
	return out
}

func ourWalk(b []byte) ([]reported, bool) {
	var out []reported
	ok := walkFeedback(b, func(seq uint16, received bool, arrival int64) {
		out = append(out, reported{seq, received, arrival})
	})
	return out, ok
}

// feedbackSeeds are feedbacks as Pion's TWCC interceptor writes them (run lengths, and status
// vectors of one- and two-bit symbols), and one from Chrome.
func feedbackSeeds(t testing.TB) [][]byte {
	fbs := []*rtcp.TransportLayerCC{
		{BaseSequenceNumber: 65530, PacketStatusCount: 9, ReferenceTime: 0x7fffff, FbPktCount: 3,
			PacketChunks: []rtcp.PacketStatusChunk{
				&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 3},
				&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 2},
				&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedLargeDelta, RunLength: 4},
			},
			RecvDeltas: []*rtcp.RecvDelta{{Type: 1, Delta: 250}, {Type: 1, Delta: 0}, {Type: 1, Delta: 63750},
				{Type: 2, Delta: -250}, {Type: 2, Delta: 8191750}, {Type: 2, Delta: -8192000}, {Type: 2, Delta: 1000}}},
		{BaseSequenceNumber: 7, PacketStatusCount: 20, ReferenceTime: 12,
			PacketChunks: []rtcp.PacketStatusChunk{
				&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeOneBit, SymbolList: []uint16{1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}},
				&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: []uint16{2, 0, 1, 1, 0, 2, 0}},
			},
			RecvDeltas: []*rtcp.RecvDelta{{Type: 1, Delta: 500}, {Type: 1, Delta: 750}, {Type: 1, Delta: 1000}, {Type: 1, Delta: 250},
				{Type: 1, Delta: 2500}, {Type: 2, Delta: 30000}, {Type: 1, Delta: 250}, {Type: 1, Delta: 250}, {Type: 2, Delta: -1000}}},
	}
	var out [][]byte
	for _, fb := range fbs {
		b, err := marshal(fb)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestWalkFeedbackAgreesWithPion(t *testing.T) {
	for i, b := range feedbackSeeds(t) {
		var fb rtcp.TransportLayerCC
		if err := fb.Unmarshal(b); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		want := pionWalk(&fb)
		got, ok := ourWalk(b)
		if !ok || len(got) != len(want) || len(got) != int(fb.PacketStatusCount) {
			t.Fatalf("seed %d: walked %d packets (ok %v), Pion %d, count %d", i, len(got), ok, len(want), fb.PacketStatusCount)
		}
		for j := range got {
			if got[j] != want[j] {
				t.Fatalf("seed %d, packet %d: %+v, Pion %+v", i, j, got[j], want[j])
			}
		}
	}
}

func FuzzWalkFeedback(f *testing.F) {
	for _, b := range feedbackSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := ourWalk(b) // must not panic, whatever b is
		var fb rtcp.TransportLayerCC
		if !ok || fb.Unmarshal(b) != nil || !isTransportCC(b) {
			return
		}
		// Where both parse, they agree (Pion does not check the deltas' count against the
		// statuses; it reads what is there).
		want := pionWalk(&fb)
		if len(want) != len(got) {
			return
		}
		for j := range got {
			if got[j] != want[j] {
				t.Fatalf("packet %d: %+v, Pion %+v", j, got[j], want[j])
			}
		}
	})
}

func TestFeedbackDoesNotAllocate(t *testing.T) {
	e := NewEstimator(Config{Initial: 1_000_000})
	for seq := uint16(0); seq < 10; seq++ {
		e.history.add(seq, int64(seq)*1e6, 1000)
	}
	b := feedbackSeeds(t)[1]
	if n := testing.AllocsPerRun(100, func() { e.onFeedback(b, 5e9) }); n != 0 {
		t.Fatalf("a feedback allocates %v times", n)
	}
}

// The interceptor takes feedback out of a compound RTCP packet and leaves the rest as it was.
func TestTakeFeedback(t *testing.T) {
	rr, _ := (&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2, LastSenderReport: 3}}}).Marshal()
	nack, _ := (&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 2, Nacks: []rtcp.NackPair{{PacketID: 5}}}).Marshal()
	fb := feedbackSeeds(t)[1]
	i := &Interceptor{est: NewEstimator(Config{Initial: 1_000_000})}
	i.est.history.add(7, 1e9, 1000)
	compound := append(append(append([]byte(nil), rr...), fb...), nack...)
	n := i.takeFeedback(compound)
	if want := append(append([]byte(nil), rr...), nack...); !bytes.Equal(compound[:n], want) {
		t.Fatalf("left %x, want %x", compound[:n], want)
	}
	if i.est.feedbacks == 0 {
		t.Fatal("the estimator did not get the feedback")
	}
	if n := i.takeFeedback(append([]byte(nil), fb...)); n != 0 {
		t.Fatalf("a compound of feedback only left %d bytes", n)
	}
}
