package signal

import (
	"errors"
	"net"

	"github.com/sfu-project/sfu/signal/token"
)

// Access control. With API keys (WithKeys), every join needs an access token (package token),
// in the join message's "token" or in the WebSocket URL's ?token=. The token's room and identity
// are the participant's, whatever the join says; its name, when it has one, too; and it says
// whether the participant may publish, subscribe and send data. A join that names another room
// than its token is refused, as are expired tokens, tokens of unknown keys and forged ones:
// each with its own error code, then the socket is closed (1008). Without keys the server is
// open: anyone may join any room and do everything.

// WithKeys makes the handler require access tokens signed by one of keys. Empty keys leave the
// server open.
func WithKeys(keys token.Keys) Option {
	return func(h *Handler) {
		if len(keys) > 0 {
			h.keys = keys
		}
	}
}

// verify checks a join's token for room ("" when the join names none). On refusal it returns the
// error code and why.
func (h *Handler) verify(tok, room string) (token.Grant, string, string) {
	if tok == "" {
		return token.Grant{}, CodeTokenRequired, "this server needs an access token: add ?token= to the URL, or \"token\" to the join"
	}
	g, err := h.keys.Verify(tok)
	switch {
	case errors.Is(err, token.ErrExpired):
		return g, CodeTokenExpired, "the access token has expired: get a new one"
	case err != nil:
		return g, CodeTokenInvalid, "the access token is not valid: " + err.Error()
	case room != "" && room != g.Room:
		return g, CodeWrongRoom, "the access token is for room " + quote(g.Room) + ", not " + quote(room)
	}
	return g, "", ""
}

// WithMaxConnectionsPerIP bounds the WebSockets open at once from one source address (20 by
// default; 0: no limit). A socket over the limit gets too_many_connections and is closed (1008).
// Behind a reverse proxy every client has the proxy's address: raise or lift the limit there.
func WithMaxConnectionsPerIP(n int) Option {
	return func(h *Handler) { h.maxPerIP = max(n, 0) }
}

// remoteIP is the address part of a request's RemoteAddr.
func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
