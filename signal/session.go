package signal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/sfu-project/sfu/sfu"
)

// StatusConnectionLost is the WebSocket close code sent when the participant's PeerConnection
// failed (ICE or DTLS), so the client knows to reconnect rather than report an error.
const StatusConnectionLost websocket.StatusCode = 4000

// StatusReplaced closes a session whose identity joined again on another connection.
const StatusReplaced websocket.StatusCode = 4001

// outQueue bounds the messages waiting for one client. A client that lets it fill is too slow
// to take part in negotiation and is disconnected.
const outQueue = 256

// session is one client's WebSocket. The read goroutine (run) handles messages in order; the
// writer goroutine sends queued ones. The media core calls the sfu.Signaller methods, which only
// queue.
type session struct {
	h      *Handler
	conn   *websocket.Conn
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	out       chan []byte
	closing   chan struct{} // closed by closeWith: the writer flushes, then closes the socket
	closeOnce sync.Once
	code      websocket.StatusCode
	reason    string

	joined atomic.Bool // set once join succeeded; read by the join timer
	// isOnline is set once the client went online (presence.go); presence is then its entry,
	// guarded by the handler's presence lock.
	isOnline    atomic.Bool
	presence    *onlineState
	callLimiter *rate.Limiter // calls per second from the client (call.go); made at the first
	limiter     *rate.Limiter // messages per second from the client
	drops       int           // messages dropped by the limiter; owned by the read goroutine

	chatLimiter *rate.Limiter // chat messages per second from the client (chat.go); made at the first

	urlToken string      // the ?token= of the WebSocket's URL
	perms    Permissions // what the participant may do; set by join

	// Owned by the read goroutine.
	p          *sfu.Participant
	room       string
	audioMuted bool
	videoMuted bool
}

func newSession(h *Handler, conn *websocket.Conn, remote string) *session {
	ctx, cancel := context.WithCancel(context.Background())
	conn.SetReadLimit(-1) // the read loop enforces the limit itself, so it can say why it closes
	return &session{
		h: h, conn: conn, ctx: ctx, cancel: cancel,
		log:     h.log.With("remote", remote),
		out:     make(chan []byte, outQueue),
		closing: make(chan struct{}),
		limiter: rate.NewLimiter(h.messageRate, h.messageBurst),
		perms:   Permissions{Publish: true, Subscribe: true, Data: true},
	}
}

func (s *session) run() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.runWriter()
	}()
	joinTimer := time.AfterFunc(s.h.joinTimeout, func() {
		if !s.joined.Load() && !s.isOnline.Load() {
			s.sendError(CodeJoinTimeout, "send \"join\" (or \"online\") within "+s.h.joinTimeout.String())
			s.closeWith(websocket.StatusPolicyViolation, "join timeout")
		}
	})
	defer joinTimer.Stop()
	pingDone := make(chan struct{})
	go func() {
		defer close(pingDone)
		s.runPinger()
	}()
	reason := s.readLoop()
	s.offline()
	if s.p != nil {
		s.h.chat.remove(s.p.ID(), s)
		s.p.Leave(reason)
	}
	s.closeWith(websocket.StatusNormalClosure, "")
	<-writerDone
	s.cancel()
	<-pingDone
}

// readLoop handles messages until the session ends, and says why it ended.
func (s *session) readLoop() (reason string) {
	for {
		typ, r, err := s.conn.Reader(s.ctx)
		if err != nil {
			return closeReason(err)
		}
		data, err := io.ReadAll(io.LimitReader(r, s.h.maxMessage+1))
		if err != nil {
			return closeReason(err)
		}
		if int64(len(data)) > s.h.maxMessage {
			s.sendError(CodeTooBig, "messages are limited to "+itoa(s.h.maxMessage)+" bytes")
			s.closeWith(websocket.StatusMessageTooBig, "message too big")
			return "message too big"
		}
		if !s.limiter.Allow() {
			s.drops++
			if s.drops >= maxRateDrops {
				s.sendError(CodeRateLimited, "too many messages; closing")
				s.closeWith(websocket.StatusPolicyViolation, "rate limit")
				return "message flood"
			}
			s.sendError(CodeRateLimited, "too many messages: this one was dropped")
			continue
		}
		if typ != websocket.MessageText {
			s.sendError(CodeBadJSON, "messages are JSON text, not binary")
			continue
		}
		var m Message
		if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
			s.sendError(CodeBadJSON, "a message is a JSON object with a string \"type\"")
			continue
		}
		if !s.handle(&m) {
			return s.reason
		}
	}
}

// closeReason describes why reading the socket failed.
func closeReason(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return "socket closed by client: " + code.String()
	}
	return "socket lost: " + err.Error()
}

// handle acts on one message; it returns false when the session must end.
func (s *session) handle(m *Message) bool {
	switch m.Type {
	case TypeJoin:
		return s.join(m)
	case TypeOnline:
		return s.online(m)
	case TypeCall:
		s.call(m)
		return true
	case TypeAccept, TypeReject, TypeCancel:
		s.answer(m)
		return true
	}
	switch m.Type {
	case TypeOffer, TypeAnswer, TypeCandidate, TypeMute, TypeLeave, TypeTrackInfo, TypeTrackSettings, TypeChat:
	default:
		s.sendError(CodeUnknownType, "unknown message type "+quote(m.Type))
		return true
	}
	if s.p == nil {
		s.sendError(CodeNotJoined, "send \"join\" first")
		return true
	}
	var err error
	switch m.Type {
	case TypeOffer:
		err = s.p.HandleOffer(m.SDP)
	case TypeAnswer:
		err = s.p.HandleAnswer(m.SDP)
	case TypeCandidate:
		if m.Candidate == nil {
			err = sfu.ErrBadCandidate
		} else {
			err = s.p.AddCandidate(*m.Candidate)
		}
	case TypeMute:
		if m.AudioMuted != nil {
			s.audioMuted = *m.AudioMuted
		}
		if m.VideoMuted != nil {
			s.videoMuted = *m.VideoMuted
		}
		s.p.SetMuted(s.audioMuted, s.videoMuted)
	case TypeTrackInfo:
		info := sfu.TrackInfo{Source: sfu.Source(m.Source)}
		for _, l := range m.Layers {
			info.Layers = append(info.Layers, sfu.LayerInfo{RID: l.RID, Width: l.Width, Height: l.Height, MaxBitrate: l.MaxBitrate})
		}
		err = s.p.DescribeTrack(m.TrackID, info)
	case TypeTrackSettings:
		hidden := m.Visible != nil && !*m.Visible
		err = s.p.SetTrackSettings(m.Publisher, m.TrackID, sfu.TrackSettings{Width: m.Width, Height: m.Height, Hidden: hidden})
	case TypeChat:
		s.chat(m)
	case TypeLeave:
		if s.isOnline.Load() { // leave the room, stay online
			s.h.chat.remove(s.p.ID(), s)
			s.p.Leave("left")
			s.p, s.room = nil, ""
			s.setInCall(false)
			return true
		}
		s.closeWith(websocket.StatusNormalClosure, "left")
		return false
	}
	if err == nil || errors.Is(err, sfu.ErrParticipantClosed) {
		return true
	}
	code := errorCode(err)
	s.sendError(code, err.Error())
	if code == CodeBadSDP || code == CodeBadCandidate || code == CodeBadTrack || code == CodeNotAllowed || code == CodeTooManyTracks {
		return true // the connection is as it was before the bad message
	}
	s.closeWith(websocket.StatusInternalError, code)
	return false
}

func (s *session) join(m *Message) bool {
	if s.p != nil {
		s.sendError(CodeAlreadyJoined, "this connection has joined already")
		s.closeWith(websocket.StatusPolicyViolation, "already joined")
		return false
	}
	if s.h.Draining() {
		s.sendError(CodeShuttingDown, "the server is going down; join another one or try again later")
		s.closeWith(websocket.StatusGoingAway, "draining")
		return false
	}
	if len(m.Name) > sfu.MaxName {
		s.sendError(CodeBadName, "names are limited to "+itoa(sfu.MaxName)+" bytes")
		return true
	}
	room, name := m.Room, m.Name
	var opts []sfu.JoinOption
	if g, ok := s.mayJoinByCall(room); ok && s.h.keys != nil {
		// A room a call was accepted in: the token the client went online with is its grant.
		if g.Name != "" {
			name = g.Name
		}
		opts = append(opts, sfu.WithIdentity(g.Identity),
			sfu.WithPermissions(sfu.Permissions{Publish: g.CanPublish, Subscribe: g.CanSubscribe, PublishData: g.CanPublishData}))
	} else if s.h.keys != nil {
		tok := m.Token
		if tok == "" {
			tok = s.urlToken
		}
		g, code, why := s.h.verify(tok, room)
		if code != "" {
			s.log.Info("join refused", "code", code, "err", why)
			s.sendError(code, why)
			s.closeWith(websocket.StatusPolicyViolation, code)
			return false
		}
		room = g.Room
		if g.Name != "" {
			name = g.Name
		}
		opts = append(opts, sfu.WithIdentity(g.Identity),
			sfu.WithPermissions(sfu.Permissions{Publish: g.CanPublish, Subscribe: g.CanSubscribe, PublishData: g.CanPublishData}))
		s.perms = Permissions{Publish: g.CanPublish, Subscribe: g.CanSubscribe, Data: g.CanPublishData}
	}
	s.room = room
	p, err := s.h.sfu.Join(room, name, s, opts...)
	switch {
	case errors.Is(err, sfu.ErrBadRoom):
		s.sendError(CodeBadRoom, "a room name is 1 to "+itoa(sfu.MaxRoomName)+" bytes of UTF-8")
		return true
	case errors.Is(err, sfu.ErrRoomFull):
		s.sendError(CodeRoomFull, "the room "+quote(room)+" is full")
		return true
	case errors.Is(err, sfu.ErrTooManyRooms):
		s.sendError(CodeTooManyRooms, "the server has as many rooms as it may; join an existing room or try later")
		return true
	case errors.Is(err, sfu.ErrServerClosed):
		s.sendError(CodeShuttingDown, "the server is shutting down")
		s.closeWith(websocket.StatusGoingAway, "shutting down")
		return false
	case err != nil:
		s.sendError(CodeInternal, err.Error())
		s.closeWith(websocket.StatusInternalError, "join failed")
		return false
	}
	s.p = p
	s.h.chat.add(p.ID(), s)
	s.joined.Store(true)
	s.setInCall(true)
	s.log = s.log.With("room", room, "participant", p.ID())
	return true
}

// runWriter sends queued messages until the session closes, then flushes what is queued and
// closes the socket with the recorded code.
func (s *session) runWriter() {
	for {
		select {
		case b := <-s.out:
			if !s.write(b) {
				s.cancel()
				_ = s.conn.CloseNow()
				return
			}
		case <-s.closing:
			for {
				select {
				case b := <-s.out:
					if !s.write(b) {
						_ = s.conn.CloseNow()
						return
					}
				default:
					_ = s.conn.Close(s.code, s.reason)
					return
				}
			}
		case <-s.ctx.Done():
			_ = s.conn.CloseNow()
			return
		}
	}
}

func (s *session) write(b []byte) bool {
	ctx, cancel := context.WithTimeout(s.ctx, s.h.writeTimeout)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, b) == nil
}

// runPinger detects a client that vanished without closing its socket (a killed browser on a
// lost network): a ping unanswered within the interval ends the session.
func (s *session) runPinger() {
	t := time.NewTicker(s.h.pingEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.ctx, s.h.pingEvery)
			err := s.conn.Ping(ctx)
			cancel()
			if err != nil && s.ctx.Err() == nil {
				s.log.Info("client stopped answering pings", "err", err)
				_ = s.conn.CloseNow()
				return
			}
		}
	}
}

// closeWith ends the session with a WebSocket close code, after the queued messages are sent.
func (s *session) closeWith(code websocket.StatusCode, reason string) {
	s.closeOnce.Do(func() {
		s.code, s.reason = code, reason
		close(s.closing)
	})
}

func (s *session) send(m *Message) {
	b, err := json.Marshal(m)
	if err != nil {
		s.log.Error("cannot encode message", "type", m.Type, "err", err)
		return
	}
	s.enqueue(b)
}

// enqueue queues an encoded message for the client; one too slow to read is closed.
func (s *session) enqueue(b []byte) {
	select {
	case <-s.closing:
		return
	default:
	}
	select {
	case s.out <- b:
	default:
		s.log.Warn("client too slow to read its messages; closing")
		s.closeWith(websocket.StatusPolicyViolation, CodeSlowConsumer)
	}
}

func (s *session) sendError(code, msg string) {
	s.send(&Message{Type: TypeError, Code: code, Message: msg})
}

// The sfu.Signaller methods: called by the media core, they only queue.

func (s *session) Joined(self sfu.ParticipantInfo, others []sfu.ParticipantInfo) {
	ps := make([]Participant, len(others))
	for i, o := range others {
		ps[i] = participant(o)
	}
	perms := s.perms
	s.send(&Message{Type: TypeJoined, ID: self.ID, Name: self.Name, Identity: self.Identity, Room: s.room,
		Permissions: &perms, Participants: ps, ICEServers: s.h.iceServers})
}

func (s *session) ParticipantJoined(p sfu.ParticipantInfo) {
	pp := participant(p)
	s.send(&Message{Type: TypeParticipantJoined, Participant: &pp})
}

func (s *session) ParticipantLeft(id string) {
	s.send(&Message{Type: TypeParticipantLeft, ID: id})
}

func (s *session) ParticipantUpdated(p sfu.ParticipantInfo) {
	pp := participant(p)
	s.send(&Message{Type: TypeParticipantUpdated, Participant: &pp})
}

func (s *session) ActiveSpeaker(id string) {
	s.send(&Message{Type: TypeActiveSpeaker, ID: id})
}

func (s *session) TrackPublished(t sfu.TrackDescription) {
	s.send(&Message{Type: TypeTrackPublished, Track: &Track{
		Publisher: t.Publisher, TrackID: t.TrackID, Kind: t.Kind.String(), Source: string(t.Source), Simulcast: t.Simulcast,
	}})
}

func (s *session) TrackUnpublished(publisher, trackID string) {
	s.send(&Message{Type: TypeTrackUnpublished, Track: &Track{Publisher: publisher, TrackID: trackID}})
}

func (s *session) PublishLayers(trackID string, rids []string) {
	s.send(&Message{Type: TypeLayers, TrackID: trackID, Active: rids})
}

func (s *session) Offer(sdp string)  { s.send(&Message{Type: TypeOffer, SDP: sdp}) }
func (s *session) Answer(sdp string) { s.send(&Message{Type: TypeAnswer, SDP: sdp}) }

func (s *session) Candidate(c webrtc.ICECandidateInit) {
	s.send(&Message{Type: TypeCandidate, Candidate: &c})
}

func (s *session) Closed(err error) {
	code := errorCode(err)
	s.sendError(code, err.Error())
	switch code {
	case CodeShuttingDown:
		s.closeWith(websocket.StatusGoingAway, "shutting down")
	case CodeConnectionLost, CodeConnectTimeout:
		s.closeWith(StatusConnectionLost, code)
	case CodeReplaced:
		s.closeWith(StatusReplaced, code)
	default:
		s.closeWith(websocket.StatusInternalError, code)
	}
}

func participant(p sfu.ParticipantInfo) Participant {
	return Participant{ID: p.ID, Name: p.Name, Identity: p.Identity, AudioMuted: p.AudioMuted, VideoMuted: p.VideoMuted}
}
