package sfu

import (
	"math"
	"slices"
	"time"

	"github.com/pion/webrtc/v4"
)

// Allocation decides, every tick and whenever a subscriber changes a track's settings, which
// layer of each video track each subscriber gets:
//
//  1. What it asks for (TrackSettings): the smallest layer that fills the tile, none when hidden.
//  2. What its downlink carries: the estimate (package bwe, after Google Congestion Control)
//     from the subscriber's transport-wide feedback. Audio is taken off first; then every shown
//     video gets its lowest live layer, by priority (screen shares, then the active speaker,
//     then the rest) for as long as the budget lasts, the others are paused; then, in the same
//     order, each is raised towards the layer it asked for while the budget allows. A raise needs 15% of
//     headroom over the layer's rate, so that an estimate hovering at a threshold does not make
//     the layer flap.
//
// As the estimate falls, tracks step down and pause; as it grows again (8% a second while no
// congestion shows, whatever is sent: an upgrade is the probe), they step back up. Until a
// subscriber's path has shown congestion once (or when it does not send transport-wide
// feedback at all), its downlink is not limited: the estimate is only a starting guess until
// then, and sending what the tiles ask for is the probe.
//
// A layer is live while its packets arrive: one that sent nothing for layerStopTicks is taken as
// stopped, and its subscribers move to the nearest live layer.
//
// Dynacast: the layers above the highest that any subscriber wants or gets are paused at their
// source once that has lasted pauseTicks: the publisher is told (Signaller.PublishLayers) to
// stop encoding them, saving its uplink and CPU. When a subscriber needs one again it is resumed
// at once. The layers below the highest needed stay on, so that a subscriber always has a layer
// to fall back to. With no subscriber, or every tile hidden, the whole track is paused.

const (
	// layerStopTicks is how many ticks without a packet make a layer count as stopped (1 s).
	layerStopTicks = 4
	// pauseTicks is how long a layer must be unneeded before its publisher pauses it (3 s):
	// resizing a window or a speaker change must not start and stop encoders.
	pauseTicks = 12
	// rateSmoothing is the weight of the newest tick in a layer's measured rate.
	rateSmoothing = 0.3
	// upgradeHeadroom is the share over a higher layer's rate that the budget must hold to move
	// up to it.
	upgradeHeadroom = 1.15
	// keepShare is the share of its lowest layer's rate that the budget must hold for a video
	// being sent to stay on; a paused one needs all of it to resume.
	keepShare = 0.75
	// minEstimate is the lowest downlink estimate, in bits per second.
	minEstimate = 50_000
)

// upAllocation is the tick's view of a published track's layers. It is guarded by the room's
// lock.
type upAllocation struct {
	rate        [maxLayers]float64 // bits per second, smoothed
	lastBytes   [maxLayers]uint64
	lastPackets [maxLayers]uint64
	quiet       [maxLayers]int // ticks in a row without a packet
	live        [maxLayers]bool
	paused      [maxLayers]bool // the publisher was told to stop the layer
	unneeded    [maxLayers]int  // ticks in a row that no subscriber needed the layer
}

// downAllocation is what allocation found one subscription needs; what it gives is the
// DownTrack's target. It is guarded by the room's lock.
type downAllocation struct {
	wanted int8 // the layer the tile needs, -1 when hidden
}

// measure updates the rate and liveness of each of up's layers from the packets of the last dt.
func (up *UpTrack) measure(dt time.Duration) {
	a := &up.alloc
	for i := range up.layers {
		l := up.layers[i].Load()
		if l == nil {
			a.live[i] = false
			continue
		}
		p, b := l.packets.Load(), l.bytes.Load()
		dp, db := p-a.lastPackets[i], b-a.lastBytes[i]
		a.lastPackets[i], a.lastBytes[i] = p, b
		if dp == 0 {
			a.quiet[i]++
		} else {
			a.quiet[i] = 0
		}
		a.live[i] = p > 0 && a.quiet[i] < layerStopTicks
		rate := float64(db*8) / dt.Seconds()
		switch {
		case !a.live[i]:
			a.rate[i] = 0
		case a.rate[i] == 0:
			a.rate[i] = rate
		default:
			a.rate[i] += rateSmoothing * (rate - a.rate[i])
		}
	}
}

// layerRate is what layer i costs, in bits per second: as measured, or until then what its
// publisher said or what such a layer usually costs.
func (up *UpTrack) layerRate(i int) int {
	if r := up.alloc.rate[i]; r > 0 {
		return int(r)
	}
	if i < len(up.infos) && up.infos[i].MaxBitrate > 0 {
		return up.infos[i].MaxBitrate
	}
	if up.kind != webrtc.RTPCodecTypeVideo {
		return 64_000
	}
	if !up.simulcast {
		return assumedBitrates[maxLayers-1]
	}
	top := len(up.infos) - 1
	return assumedBitrates[maxLayers-1-(top-i)]
}

// wantedLayer is the layer d's tile needs, or -1 when it is hidden.
func (d *DownTrack) wantedLayer() int {
	if d.settings.Hidden {
		return -1
	}
	if !d.up.simulcast {
		return 0
	}
	if !d.hasSettings {
		return d.up.layerForSize(0, 0)
	}
	return d.up.layerForSize(d.settings.Width, d.settings.Height)
}

// downlinkEstimate is what p's downlink carries, in bits per second, or MaxInt when not known.
func (p *Participant) downlinkEstimate() int {
	if p.bwe == nil {
		return math.MaxInt
	}
	r, limit := p.bwe.Estimate()
	if !limit {
		return math.MaxInt // no congestion seen yet: the estimate is a guess, not a limit
	}
	return r
}

// allocateLocked shares out p's downlink over the tracks it receives. The room's lock is held.
func (r *Room) allocateLocked(p *Participant) {
	budget := p.downlinkEstimate()
	videos := p.allocScratch[:0]
	for _, d := range p.subscribed {
		if d.video {
			d.alloc.wanted = int8(d.wantedLayer())
			videos = append(videos, d)
		} else if budget != math.MaxInt {
			budget -= d.up.layerRate(0)
		}
	}
	next := allocate(budget, videos, r.speaker.current)
	for i, d := range videos {
		if from := d.target.Load(); next[i] != int(from) {
			d.log.Debug("layer", "from", from, "to", next[i], "wanted", d.alloc.wanted, "downlink", p.downlinkEstimate())
		}
		d.setTarget(next[i])
	}
	clear(videos)
	p.allocScratch = videos
}

// allocate decides the layer of each of one subscriber's videos (-1: paused), in the order
// given, from what each wants (alloc.wanted), has (target), and what its layers cost,
// within budget bits per second (MaxInt: no limit). It sorts videos by priority.
func allocate(budget int, videos []*DownTrack, speaker string) []int {
	priority := func(d *DownTrack) int {
		switch {
		case d.up.source == SourceScreen:
			return 0
		case d.up.publisher.id == speaker && speaker != "":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(videos, func(a, b *DownTrack) int { return priority(a) - priority(b) })

	next := make([]int, len(videos)) // at most a few dozen; the tick is not the packet path
	// Every shown track its lowest live layer, in order of priority, while the budget lasts.
	for i, d := range videos {
		next[i] = -1
		if d.alloc.wanted < 0 {
			continue
		}
		lo := -1
		for j := range maxLayers {
			if d.up.alloc.live[j] {
				lo = j
				break
			}
		}
		if lo < 0 {
			// Nothing live (yet, or any more): keep what there is, which costs nothing now.
			next[i] = int(d.target.Load())
			if next[i] < 0 {
				next[i] = d.up.lowestLayer()
			}
			continue
		}
		// A track that is being sent keeps its lowest layer while the budget holds most of it: a
		// path that congested once is estimated at 85% of what arrived, which must not pause
		// the very video that was arriving. Only a clearly smaller estimate pauses it.
		cost := d.up.layerRate(lo)
		need := cost
		if d.target.Load() >= 0 {
			need = int(float64(cost) * keepShare)
		}
		if budget == math.MaxInt || need <= budget {
			next[i] = lo
			if budget != math.MaxInt {
				budget -= cost
			}
		}
	}
	// Then each towards the layer it wants, in the same order.
	for i, d := range videos {
		if next[i] < 0 || !d.up.alloc.live[next[i]] {
			continue
		}
		for j := next[i] + 1; j <= int(d.alloc.wanted) && j < maxLayers; j++ {
			if !d.up.alloc.live[j] {
				continue
			}
			extra := d.up.layerRate(j) - d.up.layerRate(next[i])
			if budget != math.MaxInt {
				need := extra
				if j > int(d.target.Load()) {
					need = int(float64(d.up.layerRate(j))*upgradeHeadroom) - d.up.layerRate(next[i])
				}
				if need > budget {
					break
				}
				budget -= extra
			}
			next[i] = j
		}
	}
	return next
}

// dynacastLocked tells up's publisher which simulcast layers its subscribers need. The room's
// lock is held.
func (r *Room) dynacastLocked(up *UpTrack) {
	if !up.simulcast || !r.server.cfg.dynacast {
		return
	}
	top := -1 // the highest layer any subscriber wants or gets
	for _, d := range up.subscribers() {
		top = max(top, int(d.alloc.wanted), int(d.target.Load()))
	}
	a := &up.alloc
	changed := false
	for i := range up.infos {
		if i <= top {
			a.unneeded[i] = 0
			if a.paused[i] {
				a.paused[i], changed = false, true
			}
			continue
		}
		a.unneeded[i]++
		if !a.paused[i] && a.unneeded[i] >= pauseTicks {
			a.paused[i], changed = true, true
		}
	}
	if !changed {
		return
	}
	active := make([]string, 0, len(up.infos))
	for i, l := range up.infos {
		if !a.paused[i] {
			active = append(active, l.RID)
		}
	}
	up.log.Debug("dynacast", "active", active)
	up.publisher.sig.PublishLayers(up.id, active)
}
