// Package signal is the WebSocket signaling protocol of the SFU: JSON messages over one
// WebSocket per participant (github.com/coder/websocket), documented in docs/protocol.md.
//
// A Handler accepts connections at its URL; each becomes a session that reads messages in order
// on one goroutine and writes on another, through a bounded queue, so the media core never waits
// for a client's socket. A session implements sfu.Signaller: it is how the core's events (offers,
// candidates, members coming and going) reach the client. The package knows nothing of RTP.
package signal
