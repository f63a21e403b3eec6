// Package bwe estimates the bandwidth of the path from the server to one subscriber, from the
// subscriber's transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-
// cc-extensions-01), after Google Congestion Control (draft-ietf-rmcat-gcc-02):
//
//   - Every packet the server sends on the subscriber's connection gets a transport-wide sequence
//     number (Interceptor, one per connection); History remembers when it was sent and how big it
//     was.
//   - The subscriber's browser reports when each packet arrived, or that it did not. From the
//     arrivals, a delay-based detector (trendline.go) tells whether queues on the path are
//     growing (overuse), steady, or draining; from the reports of lost packets, the loss rate.
//   - The estimate (Estimator.Estimate) is the lesser of two rates. The delay-based one falls to
//     85% of what arrived when the path is overused, and otherwise grows by 8% a second. The
//     loss-based one falls by half the share lost when over a tenth is lost, and grows back by
//     5% every 200 ms while under 2% is.
//
// Pion's gcc package does the same; this one is written for an SFU's send path: nothing on it
// allocates (Pion's keeps each sent packet in a container/list, two allocations a packet), it
// starts no goroutine, and retransmissions on RTX SSRCs are numbered like any packet.
package bwe

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// TransportCCURI is the header extension that carries the transport-wide sequence number.
const TransportCCURI = sdp.TransportCCURI

// historySize is how many sent packets History remembers: at 5 Mbit/s of 1200-byte packets,
// about 4 s, far longer than feedback takes.
const historySize = 2048

// sent is what History keeps of one packet.
type sent struct {
	at       int64 // monotonic nanoseconds
	size     int32 // bytes, header included
	seq      uint16
	ok       bool
	reported uint8 // what feedback said of it so far: notReported, reportedLost, reportedReceived
}

// What feedback has said of a packet. Receivers report a packet again when one arrives out of
// order (Chrome and Pion both restart their feedback from the late one): a packet first reported
// lost may be reported received later, and a received one reported twice.
const (
	notReported uint8 = iota
	reportedLost
	reportedReceived
)

// History records the packets sent on one connection by their transport-wide sequence number.
type History struct {
	mu      sync.Mutex
	packets [historySize]sent
}

func (h *History) add(seq uint16, at int64, size int) {
	h.mu.Lock()
	h.packets[seq%historySize] = sent{at: at, size: int32(size), seq: seq, ok: true}
	h.mu.Unlock()
}

// lookup returns what was recorded of seq, if it is still there. The caller holds mu.
func (h *History) lookup(seq uint16) (*sent, bool) {
	s := &h.packets[seq%historySize]
	return s, s.ok && s.seq == seq
}

// Interceptor numbers every outgoing packet of the streams that negotiated the transport-wide
// sequence number extension, and records it in the connection's History. Make one per
// connection with a Factory.
type Interceptor struct {
	interceptor.NoOp
	est  *Estimator
	next atomic.Uint32
}

// Factory makes an Interceptor and an Estimator for each new PeerConnection, and hands the
// Estimator to OnNew (called inside NewPeerConnection, on its goroutine).
type Factory struct {
	Config Config
	OnNew  func(*Estimator)
}

// NewInterceptor implements interceptor.Factory.
func (f *Factory) NewInterceptor(string) (interceptor.Interceptor, error) {
	e := NewEstimator(f.Config)
	if f.OnNew != nil {
		f.OnNew(e)
	}
	return &Interceptor{est: e}, nil
}

// BindLocalStream implements interceptor.Interceptor.
func (i *Interceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return w
	}
	// One goroutine writes each stream (the server's DownTrack writer), media and resends alike,
	// so the stream's buffer is never used by two packets at once: SetExtension keeps a reference
	// to it only until the header is marshalled, inside w.Write.
	var buf [2]byte
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		seq := uint16(i.next.Add(1) - 1)
		binary.BigEndian.PutUint16(buf[:], seq)
		if err := h.SetExtension(id, buf[:]); err != nil {
			return 0, err
		}
		n, err := w.Write(h, payload, a)
		if err == nil {
			i.est.history.add(seq, nanotime(), h.MarshalSize()+len(payload))
		}
		return n, err
	})
}

// BindRTCPReader takes the transport-wide feedback out of the RTCP the subscriber sends, and
// gives it to the Estimator; the rest goes on. The bwe interceptor must be the first in the
// registry, nearest the network: whatever reads the RTCP after it (other interceptors, the
// server's readers of each sender's RTCP) parses every packet it gets, and an
// rtcp.TransportLayerCC costs an allocation per packet reported.
func (i *Interceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attrs, err := r.Read(b, a)
			if err != nil {
				return n, attrs, err
			}
			if n = i.takeFeedback(b[:n]); n > 0 {
				return n, attrs, nil
			}
			// Nothing but feedback: read the next.
		}
	})
}

// takeFeedback feeds the transport-wide feedback packets of the compound packet b to the
// estimator, moves the other packets to the front of b, and returns their length.
func (i *Interceptor) takeFeedback(b []byte) int {
	out := 0
	for p := 0; p+4 <= len(b); {
		size := (int(binary.BigEndian.Uint16(b[p+2:p+4])) + 1) * 4
		if p+size > len(b) {
			size = len(b) - p // malformed: let the RTCP parser say so
		}
		pkt := b[p : p+size]
		if isTransportCC(pkt) {
			i.est.OnFeedback(pkt)
		} else {
			out += copy(b[out:], pkt)
		}
		p += size
	}
	return out
}

// processStart anchors nanotime.
var processStart = time.Now()

// nanotime is a monotonic clock in nanoseconds.
func nanotime() int64 { return int64(time.Since(processStart)) }
