package signal

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signal/token"
)

// Handler serves the signaling WebSocket. Create it with NewHandler; Close ends every session.
type Handler struct {
	sfu            *sfu.Server
	log            *slog.Logger
	iceServers     []webrtc.ICEServer
	maxMessage     int64
	pingEvery      time.Duration
	writeTimeout   time.Duration
	originPatterns []string
	joinTimeout    time.Duration
	messageRate    rate.Limit
	messageBurst   int
	keys           token.Keys // nil: no tokens needed (auth.go)
	maxPerIP       int        // sockets per source address; 0: no limit
	perIP          map[string]int
	chat           chatRelay // the sessions of joined participants, for relaying chat (chat.go)
	presence       presence  // who is online, and their ringing calls (presence.go, call.go)
	ringTimeout    time.Duration

	mu       sync.Mutex
	sessions map[*session]struct{}
	closed   bool
	draining bool
	wg       sync.WaitGroup
}

// Option configures a Handler.
type Option func(*Handler)

// WithLogger sets the logger; by default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithICEServers sets the STUN and TURN servers handed to clients in the joined message.
func WithICEServers(s []webrtc.ICEServer) Option { return func(h *Handler) { h.iceServers = s } }

// WithMaxMessage sets the largest message a client may send, in bytes (default 64 KiB).
func WithMaxMessage(n int64) Option { return func(h *Handler) { h.maxMessage = n } }

// WithPingInterval sets how often the server pings each client; a client that does not answer
// within the interval is disconnected (default 5 s).
func WithPingInterval(d time.Duration) Option { return func(h *Handler) { h.pingEvery = d } }

// WithOriginPatterns allows WebSocket connections from pages of these host patterns besides the
// server's own origin (see websocket.AcceptOptions.OriginPatterns).
func WithOriginPatterns(p ...string) Option { return func(h *Handler) { h.originPatterns = p } }

// WithJoinTimeout sets how long a new connection may take to send "join" (default 10 s).
func WithJoinTimeout(d time.Duration) Option { return func(h *Handler) { h.joinTimeout = d } }

// WithMessageRate limits the messages one connection may send: perSecond on average, in bursts
// of up to burst (defaults 50 and 100). A message over the limit is dropped with an error;
// a client that keeps flooding (maxRateDrops dropped messages) is disconnected.
func WithMessageRate(perSecond float64, burst int) Option {
	return func(h *Handler) { h.messageRate, h.messageBurst = rate.Limit(perSecond), burst }
}

// maxRateDrops is how many over-the-limit messages a connection may send before it is closed.
const maxRateDrops = 20

// NewHandler returns a Handler that joins clients to rooms of s.
func NewHandler(s *sfu.Server, opts ...Option) *Handler {
	h := &Handler{
		sfu:          s,
		log:          slog.Default(),
		maxMessage:   64 << 10,
		pingEvery:    5 * time.Second,
		writeTimeout: 5 * time.Second,
		joinTimeout:  10 * time.Second,
		messageRate:  50,
		messageBurst: 100,
		sessions:     map[*session]struct{}{},
		maxPerIP:     20,
		perIP:        map[string]int{},
		ringTimeout:  DefaultRingTimeout,
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// ServeHTTP upgrades the request to a WebSocket and runs a session until it ends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.originPatterns})
	if err != nil {
		h.log.Info("websocket refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	s := newSession(h, conn, r.RemoteAddr)
	s.urlToken = r.URL.Query().Get("token")
	ip := remoteIP(r.RemoteAddr)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.sendError(CodeShuttingDown, "the server is shutting down")
		s.closeWith(websocket.StatusGoingAway, "shutting down")
		s.runWriter()
		return
	}
	if h.maxPerIP > 0 && h.perIP[ip] >= h.maxPerIP {
		h.mu.Unlock()
		h.log.Info("websocket refused: too many from one address", "remote", r.RemoteAddr)
		s.sendError(CodeTooManyConns, "this address has "+itoa(h.maxPerIP)+" connections open already")
		s.closeWith(websocket.StatusPolicyViolation, CodeTooManyConns)
		s.runWriter()
		return
	}
	h.perIP[ip]++
	h.sessions[s] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.sessions, s)
		if h.perIP[ip]--; h.perIP[ip] <= 0 {
			delete(h.perIP, ip)
		}
		h.mu.Unlock()
		h.wg.Done()
	}()
	s.run()
}

// Close tells every client the server is going away, closes their sessions, and waits for them
// to end. New connections are refused.
func (h *Handler) Close() {
	for _, s := range h.sessionsAfter(func() { h.closed = true }) {
		s.sendError(CodeShuttingDown, "the server is shutting down")
		s.closeWith(websocket.StatusGoingAway, "shutting down")
	}
	h.wg.Wait()
}

// Drain stops new joins and tells every client that the server goes down in grace: calls go on
// meanwhile, so people can finish. Close ends them.
func (h *Handler) Drain(grace time.Duration) {
	for _, s := range h.sessionsAfter(func() { h.draining = true }) {
		s.send(&Message{Type: TypeDraining, Message: "the server is going down for maintenance", GraceSeconds: int(grace.Seconds())})
	}
}

// sessionsAfter runs change under the lock and returns the sessions open at that moment.
func (h *Handler) sessionsAfter(change func()) []*session {
	h.mu.Lock()
	defer h.mu.Unlock()
	change()
	all := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		all = append(all, s)
	}
	return all
}

// Draining reports whether Drain was called.
func (h *Handler) Draining() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.draining
}

// Sessions is the number of open signaling sessions.
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// errorCode maps an error of the media core to the protocol's error code.
func errorCode(err error) string {
	switch {
	case errors.Is(err, sfu.ErrBadSDP):
		return CodeBadSDP
	case errors.Is(err, sfu.ErrBadCandidate):
		return CodeBadCandidate
	case errors.Is(err, sfu.ErrBadRoom):
		return CodeBadRoom
	case errors.Is(err, sfu.ErrServerClosed):
		return CodeShuttingDown
	case errors.Is(err, sfu.ErrConnectionFailed):
		return CodeConnectionLost
	case errors.Is(err, sfu.ErrNegotiation):
		return CodeNegotiation
	case errors.Is(err, sfu.ErrBadTrack):
		return CodeBadTrack
	case errors.Is(err, sfu.ErrNotAllowed):
		return CodeNotAllowed
	case errors.Is(err, sfu.ErrReplaced):
		return CodeReplaced
	case errors.Is(err, sfu.ErrTooManyTracks):
		return CodeTooManyTracks
	case errors.Is(err, sfu.ErrConnectTimeout):
		return CodeConnectTimeout
	default:
		return CodeInternal
	}
}
