package main

import (
	"fmt"
	"io"
	"time"
)

// progress prints a line a second until stop is closed.
func progress(cfg config, parts []*participant, start time.Time, w io.Writer, stop <-chan struct{}) {
	if cfg.Progress <= 0 {
		<-stop
		return
	}
	wantTracks := 0
	for _, p := range parts {
		wantTracks += p.wantTracks
	}
	tick := time.NewTicker(cfg.Progress)
	defer tick.Stop()
	prev := snapshot(config{}, parts)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		cur := snapshot(config{}, parts)
		dt := cur.at.Sub(prev.at).Seconds()
		lat := cur.latency.since(&prev.latency)
		loss := 0.0
		if cur.recv.expected > 0 {
			loss = 100 * float64(cur.recv.lost) / float64(cur.recv.expected)
		}
		fmt.Fprintf(w, "sfu-load: %3.0fs  joined %d/%d  tracks %d/%d  sent %.0f pkt/s  received %.0f pkt/s  loss %.3f%%  latency p50 %s\n",
			cur.at.Sub(start).Seconds(), cur.joined, len(parts), cur.recv.streams, wantTracks,
			float64(cur.sentPackets-prev.sentPackets)/dt, float64(cur.recv.packets-prev.recv.packets)/dt,
			loss, fmtMs(ms(lat.quantile(0.5))))
		prev = cur
	}
}
