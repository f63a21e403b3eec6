package signal

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"golang.org/x/time/rate"
)

// Calls. A client that is online (presence.go) rings another person in its directory:
//
//	caller -> server   {"type":"call","to":"bob"}
//	server -> caller   {"type":"calling","callId":"…","to":"bob"}
//	server -> callee   {"type":"incomingCall","callId":"…","name":"alice","identity":…,"room":…}
//	callee -> server   {"type":"accept","callId":"…"}   or "reject"; the caller may "cancel"
//	server -> both     {"type":"callResult","callId":"…","result":"accepted","room":"call-…"}
//
// On "accepted" both join the room named, on the same connection, like any room. A caller who is
// in a room already rings the callee into that room ("room" in incomingCall), so a call grows
// into a group call one person at a time. The other results go to the caller (and, where the
// callee's dialog must close, to the callee): rejected, busy (the callee is in a call and did not
// accept, or is being rung by someone else), unanswered (no answer within the ring timeout, 30 s by
// default), offline (the callee went away while it rang), cancelled (the caller cancelled or
// went away).
//
// Every call is in the handler's presence, under its lock; a call ends exactly once, by the first
// of accept, reject, cancel, timeout or either side going away.

// Call results, the "result" of callResult.
const (
	ResultAccepted   = "accepted"
	ResultRejected   = "rejected"
	ResultBusy       = "busy"
	ResultUnanswered = "unanswered"
	ResultOffline    = "offline"
	ResultCancelled  = "cancelled"
)

// DefaultRingTimeout is how long a call rings before it ends unanswered.
const DefaultRingTimeout = 30 * time.Second

// Call requests have their own limit on top of the connection's message rate: each one rings
// someone else.
const (
	callRate  = 1 // calls per second, on average
	callBurst = 5
)

// WithRingTimeout sets how long a call rings before it ends unanswered (default 30 s).
func WithRingTimeout(d time.Duration) Option { return func(h *Handler) { h.ringTimeout = d } }

// call is one ringing call.
type call struct {
	id     string
	caller *session
	callee *session
	room   string // the caller's room when it rang, or "": a new room on accept
	timer  *time.Timer
}

// endLocked removes c from the ringing calls. The presence lock is held.
func (p *presence) endLocked(c *call) {
	c.timer.Stop()
	delete(p.calls, c.id)
	if c.caller.presence.outgoing == c {
		c.caller.presence.outgoing = nil
	}
	if c.callee.presence.incoming == c {
		c.callee.presence.incoming = nil
	}
}

// call rings m.To. It runs on the caller's read goroutine.
func (s *session) call(m *Message) {
	if !s.isOnline.Load() {
		s.callError(m, CodeNotOnline, "send \"online\" before calling someone")
		return
	}
	if s.callLimiter == nil {
		s.callLimiter = rate.NewLimiter(callRate, callBurst)
	}
	if !s.callLimiter.Allow() {
		s.callError(m, CodeRateLimited, "too many calls: this one was dropped")
		return
	}
	p := &s.h.presence
	p.mu.Lock()
	me := s.presence
	callee := p.lookupLocked(me.key.dir, m.To)
	switch {
	case m.To == me.key.name:
		p.mu.Unlock()
		s.callError(m, CodeCallSelf, "you cannot call yourself")
		return
	case callee == nil:
		p.mu.Unlock()
		s.callError(m, CodeUnknownPerson, quote(m.To)+" is not online")
		return
	case me.outgoing != nil:
		p.mu.Unlock()
		s.callError(m, CodeAlreadyCalling, "cancel the call you are making first")
		return
	}
	ringing := callee.presence.incoming != nil || callee.presence.outgoing != nil
	c := &call{id: newCallID(), caller: s, callee: callee, room: s.callRoom()}
	if ringing {
		p.mu.Unlock()
		s.send(&Message{Type: TypeCalling, CallID: c.id, To: m.To})
		s.send(&Message{Type: TypeCallResult, CallID: c.id, Result: ResultBusy})
		return
	}
	if p.calls == nil {
		p.calls = map[string]*call{}
	}
	p.calls[c.id] = c
	me.outgoing = c
	callee.presence.incoming = c
	c.timer = time.AfterFunc(s.h.ringTimeout, func() { s.h.presence.timeout(c) })
	from := me.person
	p.mu.Unlock()

	s.send(&Message{Type: TypeCalling, CallID: c.id, To: m.To})
	callee.send(&Message{Type: TypeIncomingCall, CallID: c.id, Name: from.Name, Identity: from.Identity, Room: c.room})
}

// callRoom is the room the session is in, if it is in one. The presence lock is held, or the
// caller is the session's read goroutine (which owns room and p).
func (s *session) callRoom() string {
	if s.p == nil {
		return ""
	}
	return s.room
}

// answer handles accept, reject and cancel. It runs on the read goroutine of the session that
// sent it.
func (s *session) answer(m *Message) {
	p := &s.h.presence
	p.mu.Lock()
	c := p.calls[m.CallID]
	mine := c != nil && ((m.Type == TypeCancel && c.caller == s) || (m.Type != TypeCancel && c.callee == s))
	if !mine {
		p.mu.Unlock()
		s.send(&Message{Type: TypeError, Code: CodeUnknownCall, CallID: m.CallID,
			Message: "no call " + quote(m.CallID) + " is ringing for you: it ended, was answered, or is not yours"})
		return
	}
	p.endLocked(c)
	calleeBusy := c.callee.presence.person.InCall
	switch m.Type {
	case TypeAccept:
		if c.room == "" {
			c.room = "call-" + newCallID()
		}
		now := time.Now()
		p.grantLocked(c.caller.presence.key, c.room, now)
		p.grantLocked(c.callee.presence.key, c.room, now)
	}
	p.mu.Unlock()

	switch m.Type {
	case TypeAccept:
		res := &Message{Type: TypeCallResult, CallID: c.id, Result: ResultAccepted, Room: c.room}
		c.caller.send(res)
		c.callee.send(res)
		s.log.Info("call accepted", "call", c.id, "room", c.room)
	case TypeReject:
		result := ResultRejected
		if calleeBusy {
			result = ResultBusy
		}
		c.caller.send(&Message{Type: TypeCallResult, CallID: c.id, Result: result})
	case TypeCancel:
		res := &Message{Type: TypeCallResult, CallID: c.id, Result: ResultCancelled}
		c.callee.send(res)
		c.caller.send(res)
	}
}

// timeout ends a call that rang too long.
func (p *presence) timeout(c *call) {
	p.mu.Lock()
	if p.calls[c.id] != c {
		p.mu.Unlock()
		return // answered meanwhile
	}
	p.endLocked(c)
	busy := c.callee.presence.person.InCall
	p.mu.Unlock()
	result := ResultUnanswered
	if busy {
		result = ResultBusy
	}
	c.caller.send(&Message{Type: TypeCallResult, CallID: c.id, Result: result})
	c.callee.send(&Message{Type: TypeCallResult, CallID: c.id, Result: ResultUnanswered})
}

func newCallID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// callError refuses a call request; the error names whom it was for ("to"), so that a client
// can tell which request failed.
func (s *session) callError(m *Message, code, msg string) {
	s.send(&Message{Type: TypeError, Code: code, Message: msg, To: m.To})
}
