package sfu

import "github.com/pion/webrtc/v4"

// ParticipantInfo is what the other members of a room know of a participant.
type ParticipantInfo struct {
	ID         string
	Name       string
	Identity   string // from the access token; "" when the server runs without tokens
	AudioMuted bool
	VideoMuted bool
}

// Signaller carries what the media core has to tell one participant's client. The sfu package
// knows nothing of how: the signal package sends JSON over a WebSocket, a test may record calls.
//
// The core calls these methods from its own goroutines, sometimes while holding a room's lock, so
// an implementation must not block and must not call back into the core: queue and return.
// Calls for one participant arrive in the order the events happened; Joined comes first.
type Signaller interface {
	Joined(self ParticipantInfo, others []ParticipantInfo)
	ParticipantJoined(ParticipantInfo)
	ParticipantLeft(id string)
	ParticipantUpdated(ParticipantInfo)
	Offer(sdp string)
	Answer(sdp string)
	Candidate(webrtc.ICECandidateInit)
	// TrackPublished tells of a track another member publishes, before the offer that carries
	// it; when joining, of each track already there.
	TrackPublished(TrackDescription)
	// TrackUnpublished tells that the track trackID of the member publisher ended.
	TrackUnpublished(publisher, trackID string)
	// PublishLayers tells a publisher which simulcast layers (RIDs) of its track trackID to
	// keep sending; it may pause the others (dynacast).
	PublishLayers(trackID string, rids []string)
	// ActiveSpeaker names the participant who speaks now ("" when that one has left).
	ActiveSpeaker(id string)
	// Closed says the core ended the participant on its own (its connection failed, the server
	// is closing); err says why. It is not called after the client's own Close.
	Closed(err error)
}
