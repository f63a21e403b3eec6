package sfu

import "errors"

// Sentinel errors of the media core. Callers compare with errors.Is; the signaling layer maps
// them to protocol error codes.
var (
	ErrServerClosed      = errors.New("sfu: server closed")
	ErrParticipantClosed = errors.New("sfu: participant closed")
	ErrBadRoom           = errors.New("sfu: invalid room name")
	ErrBadSDP            = errors.New("sfu: invalid session description")
	ErrBadCandidate      = errors.New("sfu: invalid ICE candidate")
	ErrConnectionFailed  = errors.New("sfu: peer connection failed")
	ErrNegotiation       = errors.New("sfu: negotiation failed")
	ErrNoCodec           = errors.New("sfu: subscriber supports no codec of the track")
	ErrBadTrack          = errors.New("sfu: invalid track description or settings")
	ErrNotAllowed        = errors.New("sfu: not allowed")
	ErrReplaced          = errors.New("sfu: replaced by a new join of the same identity")
	ErrRoomFull          = errors.New("sfu: the room is full")
	ErrTooManyRooms      = errors.New("sfu: the server has as many rooms as it may")
	ErrTooManyTracks     = errors.New("sfu: too many tracks")
	ErrConnectTimeout    = errors.New("sfu: the media connection did not come up in time")
)
