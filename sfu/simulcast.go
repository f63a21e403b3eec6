package sfu

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu/packetcache"
)

// Simulcast: a publisher sends one video track as several encodings of the same picture at
// different sizes (layers), each its own RTP stream named by a RID. The server receives them
// all and sends each subscriber one: the layer its tile needs, as far as its downlink allows
// (allocation.go). A DownTrack switches layers only at a keyframe of the new layer, and rewrites
// sequence numbers, timestamps and VP8 picture ids so that the subscriber sees one stream.

// maxLayers is the most simulcast layers a track may have.
const maxLayers = 3

// layer is one stream of a published track: all of a plain track, or one simulcast encoding.
type layer struct {
	index     int    // quality rank within the track, 0 lowest
	rid       string // "" for a track without simulcast
	info      LayerInfo
	remote    *webrtc.TrackRemote
	cache     *packetcache.Cache
	keyframes *keyframeRequester
	nack      nackTracker // owned by the layer's reader
	recv      reception   // for receiver reports (reports.go)

	packets, bytes atomic.Uint64 // what arrived (payload bytes): the rate and liveness the tick measures, and the stats
}

// orderLayers puts the negotiated RIDs in order of quality, lowest first, and returns each one's
// LayerInfo. The publisher's own description decides when it gives sizes; otherwise RIDs that
// follow a common naming (q/h/f, l/m/h, low/mid/high, or numbers) are ordered by it; otherwise
// they keep the order of the SDP, which browsers write lowest first when the application lists
// them so.
func orderLayers(rids []string, described []LayerInfo) []LayerInfo {
	if len(rids) > maxLayers {
		rids = rids[:maxLayers]
	}
	out := make([]LayerInfo, len(rids))
	for i, rid := range rids {
		out[i] = LayerInfo{RID: rid}
		for _, d := range described {
			if d.RID == rid {
				out[i] = d
			}
		}
	}
	sized := true
	for _, l := range out {
		if l.Width == 0 && l.Height == 0 {
			sized = false
		}
	}
	if sized {
		slices.SortStableFunc(out, func(a, b LayerInfo) int { return a.Width*a.Height - b.Width*b.Height })
		return out
	}
	for _, names := range [][]string{{"q", "h", "f"}, {"l", "m", "h"}, {"low", "mid", "high"}, {"0", "1", "2"}} {
		rank := func(rid string) int { return slices.Index(names, strings.ToLower(rid)) }
		all := true
		for _, l := range out {
			if rank(l.RID) < 0 {
				all = false
			}
		}
		if all {
			slices.SortStableFunc(out, func(a, b LayerInfo) int { return rank(a.RID) - rank(b.RID) })
			return out
		}
	}
	return out
}

// layerIndex is the position of rid among the ordered layers, or -1.
func layerIndex(infos []LayerInfo, rid string) int {
	for i, l := range infos {
		if l.RID == rid {
			return i
		}
	}
	return -1
}

// Assumed sizes and costs of layers that their publisher did not describe: the top layer 720p,
// each one below it half as wide and high.
const (
	assumedTopWidth  = 1280
	assumedTopHeight = 720
)

// assumedBitrates are the costs, lowest layer first, that allocation assumes for a layer whose
// rate it has not measured and whose publisher gave no maxBitrate: what browsers typically send
// for 180p, 360p and 720p video.
var assumedBitrates = [maxLayers]int{150_000, 500_000, 1_500_000}

// layerSize is the size layer i of up is shown at best.
func (up *UpTrack) layerSize(i int) (w, h int) {
	if i < len(up.infos) && (up.infos[i].Width > 0 || up.infos[i].Height > 0) {
		return up.infos[i].Width, up.infos[i].Height
	}
	top := len(up.infos) - 1
	if top < 0 {
		top = 0
	}
	return assumedTopWidth >> (top - i), assumedTopHeight >> (top - i)
}

// layerForSize is the layer a tile of w x h device pixels needs: the smallest that is at least
// about as big in either dimension, or the top one. Size 0 means not known: the top layer.
func (up *UpTrack) layerForSize(w, h int) int {
	top := max(len(up.infos)-1, 0)
	if w <= 0 && h <= 0 {
		return top
	}
	for i := 0; i < top; i++ {
		lw, lh := up.layerSize(i)
		// A layer within 15% of the tile is good enough: scaling it up that little is not seen.
		if lw*100 >= w*85 && lh*100 >= h*85 {
			return i
		}
	}
	return top
}
