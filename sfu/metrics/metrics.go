// Package metrics exports the SFU's counters to Prometheus.
//
// The media path keeps plain atomic counters per track (package sfu); nothing on it knows of
// Prometheus. A Collector reads sfu.Server.Stats at scrape time, so a scrape costs a walk over
// the rooms and no packet pays for metrics. The join latency histogram is fed through
// sfu.WithJoinLatency.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sfu-project/sfu/sfu"
)

const namespace = "sfu"

// Collector is a prometheus.Collector for one sfu.Server.
type Collector struct {
	server      *sfu.Server
	joinLatency prometheus.Histogram
	gauges      []gauge
	counters    []counter
}

type gauge struct {
	desc *prometheus.Desc
	get  func(*sfu.Stats) int
}

type counter struct {
	desc *prometheus.Desc
	get  func(*sfu.Stats) uint64
}

// New returns a Collector. Pass ObserveJoin to sfu.WithJoinLatency when creating the server, and
// SetServer once it exists.
func New() *Collector {
	c := &Collector{
		joinLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "join_latency_seconds",
			Help:    "Time from a participant's join to its PeerConnection connecting.",
			Buckets: []float64{.05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10},
		}),
	}
	g := func(name, help string, get func(*sfu.Stats) int) {
		c.gauges = append(c.gauges, gauge{prometheus.NewDesc(namespace+"_"+name, help, nil, nil), get})
	}
	k := func(name, help string, get func(*sfu.Stats) uint64) {
		c.counters = append(c.counters, counter{prometheus.NewDesc(namespace+"_"+name+"_total", help, nil, nil), get})
	}
	g("rooms", "Rooms with at least one participant.", func(s *sfu.Stats) int { return s.Rooms })
	g("participants", "Participants in all rooms.", func(s *sfu.Stats) int { return s.Participants })
	g("published_tracks", "Tracks being published.", func(s *sfu.Stats) int { return s.PublishedTracks })
	g("subscribed_tracks", "Tracks being forwarded to subscribers.", func(s *sfu.Stats) int { return s.SubscribedTracks })
	g("bandwidth_paused_tracks", "Subscribed videos shown but not sent: the subscriber's downlink estimate does not carry them.",
		func(s *sfu.Stats) int { return s.BandwidthPaused })
	g("paused_layers", "Simulcast layers their publishers were told to stop, as no subscriber needs them.", func(s *sfu.Stats) int { return s.LayersPaused })
	k("packets_in", "RTP packets received from publishers.", func(s *sfu.Stats) uint64 { return s.PacketsIn })
	k("bytes_in", "RTP payload bytes received from publishers.", func(s *sfu.Stats) uint64 { return s.BytesIn })
	k("packets_out", "RTP packets forwarded to subscribers, retransmissions excluded.", func(s *sfu.Stats) uint64 { return s.PacketsOut })
	k("bytes_out", "RTP payload bytes forwarded to subscribers.", func(s *sfu.Stats) uint64 { return s.BytesOut })
	k("nacks_received", "NACK packets received from subscribers.", func(s *sfu.Stats) uint64 { return s.NACKsIn })
	k("nacks_sent", "NACK packets sent to publishers for packets their uplink lost.", func(s *sfu.Stats) uint64 { return s.NACKsOut })
	k("retransmissions", "Packets resent to subscribers from the packet cache.", func(s *sfu.Stats) uint64 { return s.Retransmissions })
	k("plis_received", "Keyframe requests (PLI, FIR) received from subscribers.", func(s *sfu.Stats) uint64 { return s.PLIsIn })
	k("plis_sent", "Keyframe requests sent to publishers, after coalescing.", func(s *sfu.Stats) uint64 { return s.PLIsOut })
	k("layer_switches", "Moves of a subscriber's video to another simulcast layer.", func(s *sfu.Stats) uint64 { return s.LayerSwitches })
	k("packets_dropped", "Packets dropped for subscribers that could not keep up.", func(s *sfu.Stats) uint64 { return s.Dropped })
	k("negotiation_failures", "Renegotiations that failed and ended a participant.", func(s *sfu.Stats) uint64 { return s.NegotiationFailures })
	k("connection_failures", "PeerConnections that failed (ICE or DTLS).", func(s *sfu.Stats) uint64 { return s.ConnectionFailures })
	return c
}

// SetServer sets the server whose counters are collected. Call it before registering.
func (c *Collector) SetServer(s *sfu.Server) { c.server = s }

// ObserveJoin records one join latency; it is the function to pass to sfu.WithJoinLatency.
func (c *Collector) ObserveJoin(d time.Duration) { c.joinLatency.Observe(d.Seconds()) }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		ch <- g.desc
	}
	for _, k := range c.counters {
		ch <- k.desc
	}
	c.joinLatency.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.server != nil {
		st := c.server.Stats()
		for _, g := range c.gauges {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(g.get(&st)))
		}
		for _, k := range c.counters {
			ch <- prometheus.MustNewConstMetric(k.desc, prometheus.CounterValue, float64(k.get(&st)))
		}
	}
	c.joinLatency.Collect(ch)
}
