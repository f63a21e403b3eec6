package sfu

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// Downlink bandwidth estimation. Each subscriber's PeerConnection numbers every packet it sends
// with a transport-wide sequence number (twccStamper); the subscriber's browser reports when
// each arrived (transport-wide congestion control feedback); Pion's Google Congestion Control
// (gcc) turns the reports into an estimate, which allocation.go shares out. Two pieces are ours:
//
//   - twccStamper replaces Pion's TWCC header extension interceptor, which allocates twice per
//     packet. It writes the number into a buffer of the stream's own and passes an attributes map
//     of the stream's own, which gcc would otherwise make for every packet.
//   - estimator and passPacer: gcc's pacers look up the writer of a packet by its SSRC, and know
//     only the media SSRCs; a DownTrack's retransmissions go out on the RTX SSRC of the same
//     stream, and would be refused. The estimator tells the pacer which RTX SSRC is whose.

// newEstimator makes a connection's bandwidth estimator.
func newEstimator(cfg *config) (cc.BandwidthEstimator, error) {
	p := &passPacer{writers: map[uint32]interceptor.RTPWriter{}}
	bwe, err := gcc.NewSendSideBWE(
		gcc.SendSideBWEInitialBitrate(cfg.bweInitial),
		gcc.SendSideBWEMinBitrate(minEstimate),
		gcc.SendSideBWEMaxBitrate(cfg.bweMax),
		gcc.SendSideBWEPacer(p),
	)
	if err != nil {
		return nil, err
	}
	return &estimator{SendSideBWE: bwe, pacer: p}, nil
}

// estimator is gcc's estimator, with the RTX SSRC of each stream made known to its pacer.
type estimator struct {
	*gcc.SendSideBWE
	pacer *passPacer
}

func (e *estimator) AddStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	out := e.SendSideBWE.AddStream(info, w)
	if info.SSRCRetransmission != 0 {
		e.pacer.alias(info.SSRCRetransmission, info.SSRC)
	}
	return out
}

// passPacer sends each packet at once, through the writer of its stream.
type passPacer struct {
	mu      sync.RWMutex
	writers map[uint32]interceptor.RTPWriter
}

func (p *passPacer) AddStream(ssrc uint32, w interceptor.RTPWriter) {
	p.mu.Lock()
	p.writers[ssrc] = w
	p.mu.Unlock()
}

func (p *passPacer) alias(rtx, media uint32) {
	p.mu.Lock()
	p.writers[rtx] = p.writers[media]
	p.mu.Unlock()
}

func (p *passPacer) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	p.mu.RLock()
	w := p.writers[h.SSRC]
	p.mu.RUnlock()
	if w == nil {
		return 0, fmt.Errorf("sfu: no stream for SSRC %d", h.SSRC)
	}
	return w.Write(h, payload, a)
}

func (p *passPacer) SetTargetBitrate(int) {}
func (p *passPacer) Close() error         { return nil }

// twccStamperFactory makes a twccStamper per PeerConnection.
type twccStamperFactory struct{}

func (twccStamperFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccStamper{}, nil
}

// twccStamper puts a transport-wide sequence number (one counter per connection) on every
// outgoing packet of streams that negotiated the extension.
type twccStamper struct {
	interceptor.NoOp
	next atomic.Uint32
}

func (t *twccStamper) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return w
	}
	// One writer goroutine per stream (DownTrack.run) writes media and resends alike, so the
	// stream's buffer and attributes are never used by two packets at once.
	var buf [2]byte
	attrs := interceptor.Attributes{}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		binary.BigEndian.PutUint16(buf[:], uint16(t.next.Add(1)-1))
		if err := h.SetExtension(id, buf[:]); err != nil {
			return 0, err
		}
		if a == nil {
			a = attrs
		}
		return w.Write(h, payload, a)
	})
}
