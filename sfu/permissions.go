package sfu

import (
	"fmt"
	"slices"

	"github.com/pion/sdp/v3"
)

// Permissions say what a participant may do in its room.
type Permissions struct {
	Publish     bool // send audio and video
	Subscribe   bool // receive the others' audio and video
	PublishData bool // send data to the room (chat)
}

// AllowAll is what a participant may do when the server runs without access tokens.
var AllowAll = Permissions{Publish: true, Subscribe: true, PublishData: true}

// JoinOption sets up a participant as Server.Join makes it.
type JoinOption func(*joinConfig)

type joinConfig struct {
	identity string
	perms    Permissions
}

// WithIdentity gives the participant an identity, as its access token names it. A room holds
// one participant of an identity at a time: a second join replaces the first, which is closed
// with ErrReplaced.
func WithIdentity(identity string) JoinOption {
	return func(c *joinConfig) { c.identity = identity }
}

// WithPermissions limits what the participant may do; without it, everything is allowed.
func WithPermissions(p Permissions) JoinOption {
	return func(c *joinConfig) { c.perms = p }
}

// checkOffer refuses an offer that publishes audio or video from a participant that may not, or
// more tracks than a participant may.
func (p *Participant) checkOffer(offer string) error {
	max := p.server.cfg.maxTracks
	if p.perms.Publish && max == 0 {
		return nil
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	sending := 0
	for _, m := range d.MediaDescriptions {
		kind := m.MediaName.Media
		if kind != "audio" && kind != "video" {
			continue
		}
		if m.MediaName.Port.Value == 0 {
			continue // rejected or stopped
		}
		sends := true // sendrecv is the default
		for _, dir := range []string{"recvonly", "inactive"} {
			if slices.ContainsFunc(m.Attributes, func(a sdp.Attribute) bool { return a.Key == dir }) {
				sends = false
			}
		}
		if sends && !p.perms.Publish {
			return fmt.Errorf("%w: this participant may not publish audio or video (m-line %s is %s)",
				ErrNotAllowed, kind, direction(m))
		}
		if sends {
			sending++
		}
	}
	if max > 0 && sending > max {
		return fmt.Errorf("%w: the offer sends %d audio and video tracks; at most %d are allowed", ErrTooManyTracks, sending, max)
	}
	return nil
}

func direction(m *sdp.MediaDescription) string {
	for _, a := range m.Attributes {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return "sendrecv"
}
