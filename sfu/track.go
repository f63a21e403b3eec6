package sfu

import (
	"fmt"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"
)

// Source is what a published track carries, as its publisher describes it.
type Source string

// The sources a client may name. A track its publisher did not describe has source "".
const (
	SourceCamera      Source = "camera"
	SourceMicrophone  Source = "microphone"
	SourceScreen      Source = "screen"
	SourceScreenAudio Source = "screenAudio"
)

func (s Source) valid() bool {
	switch s {
	case "", SourceCamera, SourceMicrophone, SourceScreen, SourceScreenAudio:
		return true
	}
	return false
}

// LayerInfo is one simulcast encoding as the publisher configured it. Width and Height say what
// subscribers' sizes it suits; MaxBitrate (bits per second) is what allocation assumes it costs
// until its real rate is measured.
type LayerInfo struct {
	RID           string
	Width, Height int
	MaxBitrate    int
}

// TrackInfo is what a publisher tells the server about a track before sending it.
type TrackInfo struct {
	Source Source
	Layers []LayerInfo // simulcast video only, in any order
}

// TrackDescription is what the other members are told when a track is published.
type TrackDescription struct {
	Publisher string // participant id, the stream id of the track
	TrackID   string
	Kind      webrtc.RTPCodecType
	Source    Source
	Simulcast bool
}

// TrackSettings is how a subscriber shows a remote video: its size in device pixels (0 when not
// known) and whether it is shown at all. A hidden track is paused.
type TrackSettings struct {
	Width, Height int
	Hidden        bool
}

// Bounds on what a client may describe.
const (
	maxTrackInfos = 16  // described tracks per participant
	maxTrackID    = 256 // bytes
	maxDimension  = 16384
)

// DescribeTrack records what the track the client will publish as trackID is. Send it before
// the offer that adds the track: a track that arrives undescribed keeps source "" and, if
// simulcast, layers ordered by RID (see orderLayers).
func (p *Participant) DescribeTrack(trackID string, info TrackInfo) error {
	if trackID == "" || len(trackID) > maxTrackID || !utf8.ValidString(trackID) {
		return fmt.Errorf("%w: track id must be 1 to %d bytes of UTF-8", ErrBadTrack, maxTrackID)
	}
	if !info.Source.valid() {
		return fmt.Errorf("%w: unknown source %q", ErrBadTrack, info.Source)
	}
	if len(info.Layers) > maxLayers {
		return fmt.Errorf("%w: at most %d layers", ErrBadTrack, maxLayers)
	}
	for _, l := range info.Layers {
		if l.RID == "" || len(l.RID) > 16 || l.Width < 0 || l.Height < 0 || l.Width > maxDimension ||
			l.Height > maxDimension || l.MaxBitrate < 0 {
			return fmt.Errorf("%w: bad layer %q", ErrBadTrack, l.RID)
		}
	}
	p.infoMu.Lock()
	defer p.infoMu.Unlock()
	if _, ok := p.trackInfo[trackID]; !ok && len(p.trackInfo) >= maxTrackInfos {
		return fmt.Errorf("%w: at most %d described tracks", ErrBadTrack, maxTrackInfos)
	}
	if p.trackInfo == nil {
		p.trackInfo = map[string]TrackInfo{}
	}
	p.trackInfo[trackID] = TrackInfo{Source: info.Source, Layers: append([]LayerInfo(nil), info.Layers...)}
	return nil
}

func (p *Participant) describedTrack(trackID string) TrackInfo {
	p.infoMu.Lock()
	defer p.infoMu.Unlock()
	return p.trackInfo[trackID]
}

// SetTrackSettings records how the participant shows the video track trackID of the member
// publisher, and reallocates its downlink at once.
func (p *Participant) SetTrackSettings(publisher, trackID string, s TrackSettings) error {
	if s.Width < 0 || s.Height < 0 || s.Width > maxDimension || s.Height > maxDimension {
		return fmt.Errorf("%w: width and height must be 0 to %d", ErrBadTrack, maxDimension)
	}
	r := p.room
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range p.subscribed {
		if d.up.publisher.id == publisher && d.up.id == trackID {
			d.settings = s
			d.hasSettings = true
			r.allocateLocked(p)
			return nil
		}
	}
	return fmt.Errorf("%w: no track %q of %q is sent to you", ErrBadTrack, trackID, publisher)
}
