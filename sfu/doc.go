// Package sfu is the media core of the selective forwarding unit: rooms, participants, and the
// forwarding of every participant's RTP to every other member of its room.
//
// It knows nothing of WebSockets or HTTP. A signaling layer (package signal) calls Server.Join
// with a Signaller through which the core sends offers, candidates and room events, and feeds
// the client's offers, answers and candidates to the Participant.
//
// # How a packet travels
//
// Each participant has one PeerConnection (participant.go), negotiated on its own goroutine
// (negotiation.go). A track the participant publishes becomes an UpTrack (uptrack.go): one reader
// goroutine stores each packet once in the track's packet cache (packetcache/), drops any copy
// of a packet it has already, and hands its sequence number to each subscriber's DownTrack
// (downtrack.go). A DownTrack has a bounded queue and its own writer goroutine, which copies the
// packet out of the cache, rewrites SSRC, payload type, sequence number and timestamp for its
// subscriber, and gives it to Pion to encrypt and send. A full queue drops packets, never
// blocks: video then waits for the next keyframe.
//
// Subscribers' NACKs are answered from the shared cache (sequencer.go maps their sequence
// numbers back), PLIs and FIRs are coalesced per track (keyframe.go). Publishers' losses are
// NACKed as packets arrive (nack.go), receiver and sender reports are made by the tick
// (reports.go), and publishers get transport-wide feedback from one server-wide clock
// (twcc.go); engine.go says which of Pion's interceptors remain and why.
//
// A simulcast track is one UpTrack of up to three layers (simulcast.go), each with its own reader
// and cache; a DownTrack forwards one layer and switches at a keyframe. Every tick (tick.go) the
// server measures each layer, picks each subscriber's layers within its estimated downlink
// (allocation.go, with the estimate of package bwe), pauses unneeded layers at the publisher,
// and finds the active speaker (speaker.go).
//
// All WebRTC media of all participants goes through one UDP port (ICE UDP mux).
package sfu
