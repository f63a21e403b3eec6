package sfu

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the server's counters, for metrics. Counters are totals since start:
// those of tracks that have ended are kept.
type Stats struct {
	Rooms            int
	Participants     int
	PublishedTracks  int
	SubscribedTracks int

	PacketsIn  uint64 // RTP packets received from publishers
	BytesIn    uint64 // their payload bytes
	PacketsOut uint64 // RTP packets forwarded to subscribers (retransmissions not included)
	BytesOut   uint64

	NACKsIn         uint64 // NACK packets received from subscribers
	NACKsOut        uint64 // NACK packets sent to publishers for their uplink losses
	Retransmissions uint64 // packets resent to subscribers from the cache
	PLIsIn          uint64 // PLI and FIR received from subscribers
	PLIsOut         uint64 // keyframe requests sent to publishers, after coalescing
	Dropped         uint64 // packets dropped for subscribers that could not keep up
	LayerSwitches   uint64 // a subscriber's video moved to another simulcast layer

	// BandwidthPaused counts subscribed videos that are shown but not sent: the subscriber's
	// downlink estimate does not carry them. LayersPaused counts simulcast layers the
	// publishers were told to stop (dynacast).
	BandwidthPaused int
	LayersPaused    int

	NegotiationFailures uint64
	ConnectionFailures  uint64
}

// trackCounters are one track's share of Stats, updated on the media path by the goroutine
// that owns the track (so the atomics are uncontended) and read by Stats.
type trackCounters struct {
	packets, bytes, nacks, resent, plis, dropped, switches atomic.Uint64
}

// totals keeps the counters of ended tracks and the server-wide events.
type totals struct {
	packetsIn, bytesIn, packetsOut, bytesOut atomic.Uint64
	nacks, resent, plisIn, plisOut, dropped  atomic.Uint64
	switches, nacksOut                       atomic.Uint64
	negotiationFailures, connectionFailures  atomic.Uint64
}

// retireUp adds an ended published track's counters to the totals.
func (t *totals) retireUp(up *UpTrack) {
	packets, bytes := up.received()
	t.packetsIn.Add(packets)
	t.bytesIn.Add(bytes)
	t.plisOut.Add(up.stats.plis.Load())
	t.nacksOut.Add(up.stats.nacks.Load())
}

// retireDown adds an ended subscription's counters to the totals.
func (t *totals) retireDown(c *trackCounters) {
	t.packetsOut.Add(c.packets.Load())
	t.bytesOut.Add(c.bytes.Load())
	t.nacks.Add(c.nacks.Load())
	t.resent.Add(c.resent.Load())
	t.plisIn.Add(c.plis.Load())
	t.dropped.Add(c.dropped.Load())
	t.switches.Add(c.switches.Load())
}

// Stats returns the server's current counters.
func (s *Server) Stats() Stats {
	t := &s.totals
	st := Stats{
		PacketsIn: t.packetsIn.Load(), BytesIn: t.bytesIn.Load(),
		PacketsOut: t.packetsOut.Load(), BytesOut: t.bytesOut.Load(),
		NACKsIn: t.nacks.Load(), NACKsOut: t.nacksOut.Load(), Retransmissions: t.resent.Load(),
		PLIsIn: t.plisIn.Load(), PLIsOut: t.plisOut.Load(), Dropped: t.dropped.Load(), LayerSwitches: t.switches.Load(),
		NegotiationFailures: t.negotiationFailures.Load(), ConnectionFailures: t.connectionFailures.Load(),
	}
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	st.Rooms = len(rooms)
	for _, r := range rooms {
		r.mu.Lock()
		st.Participants += len(r.participants)
		for _, p := range r.participants {
			st.PublishedTracks += len(p.published)
			st.SubscribedTracks += len(p.subscribed)
			for _, up := range p.published {
				packets, bytes := up.received()
				st.PacketsIn += packets
				st.BytesIn += bytes
				st.PLIsOut += up.stats.plis.Load()
				st.NACKsOut += up.stats.nacks.Load()
				for i := range up.infos {
					if up.alloc.paused[i] {
						st.LayersPaused++
					}
				}
			}
			for _, d := range p.subscribed {
				st.PacketsOut += d.stats.packets.Load()
				st.BytesOut += d.stats.bytes.Load()
				st.NACKsIn += d.stats.nacks.Load()
				st.Retransmissions += d.stats.resent.Load()
				st.PLIsIn += d.stats.plis.Load()
				st.Dropped += d.stats.dropped.Load()
				st.LayerSwitches += d.stats.switches.Load()
				if d.alloc.wanted >= 0 && d.target.Load() < 0 {
					st.BandwidthPaused++
				}
			}
		}
		r.mu.Unlock()
	}
	return st
}

// observeJoin reports the time from Join to a connected PeerConnection.
func (s *Server) observeJoin(d time.Duration) {
	if s.cfg.onJoinLatency != nil {
		s.cfg.onJoinLatency(d)
	}
}
