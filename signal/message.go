package signal

import (
	"github.com/pion/webrtc/v4"
)

// Message types. Every message, in both directions, is one JSON object with a "type" field; the
// other fields are those of the type (see docs/protocol.md). Unknown fields are ignored so that
// clients and servers of different versions can talk.
const (
	// Client to server.
	TypeJoin  = "join"  // room, name, token: the first message on a connection
	TypeLeave = "leave" // leave the room; the server closes the socket after (an online client stays)
	TypeMute  = "mute"  // audioMuted, videoMuted: tell the room what this member has muted
	// trackId, source, layers: what a track the client publishes is (send before the offer with it)
	TypeTrackInfo = "trackInfo"
	// publisher, trackId, width, height, visible: how big the client shows a remote video, if at all
	TypeTrackSettings = "trackSettings"

	// Both directions: the client sends text; the server relays it to the room (chat.go) with
	// from, name and time added.
	TypeChat = "chat"

	// Presence and calls (presence.go, call.go). Client to server:
	TypeOnline = "online" // name (or token): be listed and reachable without joining a room
	TypeCall   = "call"   // to: ring a person who is online (a name, or an identity with tokens)
	TypeAccept = "accept" // callId: take a call that rings; then join the room of the callResult
	TypeReject = "reject" // callId: refuse a call that rings
	TypeCancel = "cancel" // callId: stop ringing, before an answer
	// Server to client:
	TypePresence      = "presence"      // name, identity, people: the answer to online, who else is online
	TypePersonOnline  = "personOnline"  // person: someone went online, or entered or left a call
	TypePersonOffline = "personOffline" // name, identity: someone went offline
	TypeCalling       = "calling"       // callId, to: the call rings
	TypeIncomingCall  = "incomingCall"  // callId, name, identity, room: someone calls (room: into a call in progress)
	TypeCallResult    = "callResult"    // callId, result, room: how a call ended (see the Result* constants)

	// Both directions.
	TypeOffer     = "offer"     // sdp
	TypeAnswer    = "answer"    // sdp
	TypeCandidate = "candidate" // candidate: a trickled ICE candidate (end of candidates is not signalled)

	// Server to client.
	TypeJoined             = "joined"             // id, room, name, identity, permissions, participants, iceServers
	TypeParticipantJoined  = "participantJoined"  // participant
	TypeParticipantLeft    = "participantLeft"    // id
	TypeParticipantUpdated = "participantUpdated" // participant
	TypeError              = "error"              // code, message
	TypeActiveSpeaker      = "activeSpeaker"      // id: who speaks now ("" when that one left)
	TypeDraining           = "draining"           // message, graceSeconds: the server is going down; calls end within grace
	TypeTrackPublished     = "trackPublished"     // track: a member publishes a track (sent before the offer that carries it)
	TypeTrackUnpublished   = "trackUnpublished"   // track: publisher and trackId of a track that ended
	TypeLayers             = "layers"             // trackId, active: the simulcast layers (rids) to keep sending; pause the others
)

// Message is the envelope of every signaling message. It is a flat union: each type uses the
// fields its comment in the Type* constants names, and leaves the others empty.
type Message struct {
	Type string `json:"type"`

	Room        string       `json:"room,omitempty"`
	Name        string       `json:"name,omitempty"`
	ID          string       `json:"id,omitempty"`
	Token       string       `json:"token,omitempty"`
	Identity    string       `json:"identity,omitempty"`
	Permissions *Permissions `json:"permissions,omitempty"`

	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`

	AudioMuted *bool `json:"audioMuted,omitempty"`
	VideoMuted *bool `json:"videoMuted,omitempty"`

	Participant  *Participant       `json:"participant,omitempty"`
	Participants []Participant      `json:"participants,omitempty"`
	ICEServers   []webrtc.ICEServer `json:"iceServers,omitempty"`

	TrackID   string   `json:"trackId,omitempty"`
	Source    string   `json:"source,omitempty"`
	Layers    []Layer  `json:"layers,omitempty"`
	Publisher string   `json:"publisher,omitempty"`
	Width     int      `json:"width,omitempty"`
	Height    int      `json:"height,omitempty"`
	Visible   *bool    `json:"visible,omitempty"`
	Track     *Track   `json:"track,omitempty"`
	Active    []string `json:"active,omitempty"`

	From string `json:"from,omitempty"` // chat: the sender's participant id
	Text string `json:"text,omitempty"` // chat: what was said
	Time int64  `json:"time,omitempty"` // chat: when the server relayed it, in milliseconds since the Unix epoch

	To     string   `json:"to,omitempty"`     // call: who to ring
	CallID string   `json:"callId,omitempty"` // calls: which call
	Result string   `json:"result,omitempty"` // callResult
	People []Person `json:"people,omitempty"` // presence: who else is online
	Person *Person  `json:"person,omitempty"` // personOnline

	Code         string `json:"code,omitempty"`
	Message      string `json:"message,omitempty"`
	GraceSeconds int    `json:"graceSeconds,omitempty"`
}

// Participant describes a member of a room to the other members. Its ID is also the MediaStream
// id (msid) of every track it publishes, which is how a client ties a remote track to a name.
type Participant struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Identity   string `json:"identity,omitempty"` // from the access token, when the server requires them
	AudioMuted bool   `json:"audioMuted"`
	VideoMuted bool   `json:"videoMuted"`
}

// Permissions are what a participant may do, as its access token says (all true without tokens).
type Permissions struct {
	Publish   bool `json:"publish"`
	Subscribe bool `json:"subscribe"`
	Data      bool `json:"data"`
}

// Track sources, the "source" of trackInfo and of a Track.
const (
	SourceCamera      = "camera"
	SourceMicrophone  = "microphone"
	SourceScreen      = "screen"
	SourceScreenAudio = "screenAudio"
)

// Layer is one simulcast encoding of a published video track, as the publisher configured it.
type Layer struct {
	RID    string `json:"rid"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// MaxBitrate is the encoding's maxBitrate in bits per second, if the client set one.
	MaxBitrate int `json:"maxBitrate,omitempty"`
}

// Track describes a published track to the other members. TrackID is the id of the remote
// MediaStreamTrack they receive (the publisher's track id), Publisher its stream id.
type Track struct {
	Publisher string `json:"publisher"`
	TrackID   string `json:"trackId"`
	Kind      string `json:"kind,omitempty"`   // "audio" or "video"
	Source    string `json:"source,omitempty"` // camera, microphone, screen, screenAudio; absent when unknown
	Simulcast bool   `json:"simulcast,omitempty"`
}

// Error codes carried in an "error" message's code field.
const (
	CodeBadJSON        = "bad_json"             // the message is not a JSON object with a string "type"
	CodeUnknownType    = "unknown_type"         // the type is not one of this protocol's
	CodeTooBig         = "message_too_big"      // over the size limit; the socket is closed (1009)
	CodeNotJoined      = "not_joined"           // a room message before "join"
	CodeAlreadyJoined  = "already_joined"       // a second "join" on one connection
	CodeBadRoom        = "bad_room"             // empty or over-long room name
	CodeBadName        = "bad_name"             // over-long display name
	CodeBadSDP         = "bad_sdp"              // the offer or answer was refused by the PeerConnection
	CodeBadCandidate   = "bad_candidate"        // the ICE candidate was refused
	CodeShuttingDown   = "shutting_down"        // the server is closing
	CodeInternal       = "internal"             // the server failed; the message says how
	CodeSlowConsumer   = "slow_consumer"        // the client did not read its messages; socket closed
	CodeNegotiation    = "negotiation"          // renegotiation failed; the session is closed
	CodeConnectionLost = "connection_lost"      // ICE or DTLS failed; the session is closed
	CodeJoinTimeout    = "join_timeout"         // no "join" within the join timeout; socket closed (1008)
	CodeRateLimited    = "rate_limited"         // too many messages: this one was dropped; a flood is closed (1008)
	CodeBadTrack       = "bad_track"            // a trackInfo or trackSettings that names no such track, or is malformed
	CodeTokenRequired  = "token_required"       // the server requires an access token and the join had none; closed (1008)
	CodeTokenInvalid   = "token_invalid"        // the token is malformed, badly signed, or of an unknown API key; closed (1008)
	CodeTokenExpired   = "token_expired"        // the token has expired; closed (1008)
	CodeWrongRoom      = "wrong_room"           // the join names another room than the token; closed (1008)
	CodeNotAllowed     = "not_allowed"          // the token does not allow it (publishing, say): refused, the session goes on
	CodeReplaced       = "replaced"             // a new join of the same identity took this one's place; closed (4001)
	CodeRoomFull       = "room_full"            // the room has as many participants as it may; the socket stays open
	CodeTooManyRooms   = "too_many_rooms"       // the server has as many rooms as it may; the socket stays open
	CodeTooManyTracks  = "too_many_tracks"      // an offer publishes more tracks than allowed: refused, the session goes on
	CodeTooManyConns   = "too_many_connections" // this address has as many sockets open as it may; closed (1008)
	CodeConnectTimeout = "connect_timeout"      // the PeerConnection did not connect in time after the join; closed (4000)
	CodeNotOnline      = "not_online"           // a call before "online": dropped
	CodeAlreadyOnline  = "already_online"       // a second "online" on one connection: dropped
	CodeNameTaken      = "name_taken"           // without tokens: someone online has the name asked for; the socket stays open
	CodeCallSelf       = "call_self"            // a call to oneself: dropped
	CodeUnknownPerson  = "unknown_person"       // a call to someone not online (in the caller's directory): dropped
	CodeAlreadyCalling = "already_calling"      // a call while the caller's previous call still rings: dropped
	CodeUnknownCall    = "unknown_call"         // accept, reject or cancel of a call that is not ringing for this client: dropped
	CodeBadChat        = "bad_chat"             // a chat message with no text, or over MaxChatText characters: dropped, the session goes on
)
