package client

import (
	"strings"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A track published after the join is gated: it sends nothing until an answer to an offer that
// carries it has been applied. Pion marks a sender negotiated as soon as it puts it in an offer,
// and starts it at the next description applied; when the server's offer crosses ours (glare),
// that is the answer to the server's offer, and the track would send on an m-line the server has
// not seen. A browser does not send early like that.

// gatedTrack is a TrackLocal whose writes are dropped until open.
type gatedTrack struct {
	webrtc.TrackLocal
	open atomic.Bool
	tr   *webrtc.RTPTransceiver
}

func (g *gatedTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return g.TrackLocal.Bind(gatedContext{ctx, g})
}

// Unbind gets the same context Bind got, so that the track finds its binding.
func (g *gatedTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	return g.TrackLocal.Unbind(gatedContext{ctx, g})
}

type gatedContext struct {
	webrtc.TrackLocalContext
	g *gatedTrack
}

func (c gatedContext) WriteStream() webrtc.TrackLocalWriter {
	return gatedWriter{c.TrackLocalContext.WriteStream(), c.g}
}

type gatedWriter struct {
	w webrtc.TrackLocalWriter
	g *gatedTrack
}

func (w gatedWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if !w.g.open.Load() {
		return 0, nil
	}
	return w.w.WriteRTP(h, payload)
}

func (w gatedWriter) Write(b []byte) (int, error) {
	if !w.g.open.Load() {
		return 0, nil
	}
	return w.w.Write(b)
}

// openGates opens the gates of the tracks that the applied answer sdp covers.
func (c *Client) openGates(sdp string) {
	for _, g := range c.gates {
		if g.tr == nil {
			continue
		}
		if mid := g.tr.Mid(); mid != "" && strings.Contains(sdp, "a=mid:"+mid+"\r\n") {
			g.open.Store(true)
		}
	}
}

// Unwrap returns the track a sender's Track() stands for: the track given to Publish.
func Unwrap(t webrtc.TrackLocal) webrtc.TrackLocal {
	if g, ok := t.(*gatedTrack); ok {
		return g.TrackLocal
	}
	return t
}
