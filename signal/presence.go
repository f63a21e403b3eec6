package signal

import (
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signal/token"
)

// Presence. A client may connect without joining a room: it sends {"type":"online","name":...}
// (with tokens, {"type":"online","token":...}: the token's identity is its name) and is then
// reachable for calls (call.go). It gets the list of who else is online ("presence"), and is
// told when people come, go, or enter and leave calls ("personOnline", "personOffline"). A
// client that is online may join a room on the same connection, leave it and stay online, and
// join another.
//
// People are grouped in directories: without tokens there is one; with tokens each token's room
// claim names the directory its holder is listed in, sees, and may call within, so that one
// server can serve several organisations that do not see each other. A name is unique within its
// directory: without tokens a second client asking for a name that is online is refused
// (name_taken); with tokens a second connection of the same identity takes the first one's place
// (replaced), as a second join does.

// Person is someone online, as the others in the directory see them.
type Person struct {
	Name     string `json:"name"`
	Identity string `json:"identity,omitempty"` // with tokens: the token's identity, which calls address
	InCall   bool   `json:"inCall"`             // in a room now: a call rings as call waiting
}

// presence is the directory of the clients that are online, and their calls.
type presence struct {
	mu     sync.Mutex
	people map[personKey]*session
	calls  map[string]*call // ringing calls by id
	// granted holds, for each person, the rooms that accepted calls let them join without a
	// token for the room, until when. It is kept by person, not by connection, so that a client
	// that reconnects (and goes online again) can join its call again.
	granted map[personKey]map[string]time.Time
}

// callGrant is how long an accepted call lets its people (re)join its room.
const callGrant = 12 * time.Hour

// grantLocked lets k join room for callGrant, and forgets expired grants. The lock is held.
func (p *presence) grantLocked(k personKey, room string, now time.Time) {
	if p.granted == nil {
		p.granted = map[personKey]map[string]time.Time{}
	}
	for pk, rooms := range p.granted {
		for r, until := range rooms {
			if now.After(until) {
				delete(rooms, r)
			}
		}
		if len(rooms) == 0 {
			delete(p.granted, pk)
		}
	}
	if p.granted[k] == nil {
		p.granted[k] = map[string]time.Time{}
	}
	p.granted[k][room] = now.Add(callGrant)
}

// personKey is how a person is addressed: their identity with tokens, their name without, within
// a directory.
type personKey struct{ dir, name string }

// onlineState is what the presence knows of one session; guarded by presence.mu.
type onlineState struct {
	key      personKey
	person   Person
	grant    token.Grant // with tokens: the grant of the token the session went online with
	outgoing *call       // the call it rings, if any
	incoming *call       // the call that rings for it, if any: a second caller hears busy
}

// online puts the session in the directory. It runs on the session's read goroutine.
func (s *session) online(m *Message) bool {
	if s.isOnline.Load() {
		s.sendError(CodeAlreadyOnline, "this connection is online already")
		return true
	}
	if s.h.Draining() {
		s.sendError(CodeShuttingDown, "the server is going down; try again later")
		return true
	}
	st := &onlineState{}
	if s.h.keys != nil {
		tok := m.Token
		if tok == "" {
			tok = s.urlToken
		}
		g, code, why := s.h.verify(tok, "")
		if code != "" {
			s.log.Info("online refused", "code", code, "err", why)
			s.sendError(code, why)
			s.closeWith(websocket.StatusPolicyViolation, code)
			return false
		}
		name := g.Name
		if name == "" {
			name = g.Identity
		}
		st.key = personKey{dir: g.Room, name: g.Identity}
		st.person = Person{Name: name, Identity: g.Identity}
		st.grant = g
		s.perms = Permissions{Publish: g.CanPublish, Subscribe: g.CanSubscribe, Data: g.CanPublishData}
	} else {
		if m.Name == "" || len(m.Name) > sfu.MaxName {
			s.sendError(CodeBadName, "going online needs a name of 1 to "+itoa(sfu.MaxName)+" bytes")
			return true
		}
		st.key = personKey{name: m.Name}
		st.person = Person{Name: m.Name}
	}
	st.person.InCall = s.p != nil

	p := &s.h.presence
	p.mu.Lock()
	if p.people == nil {
		p.people = map[personKey]*session{}
	}
	old := p.people[st.key]
	if old != nil && s.h.keys == nil {
		p.mu.Unlock()
		s.sendError(CodeNameTaken, quote(m.Name)+" is online already; choose another name")
		return true
	}
	p.people[st.key] = s
	s.presence = st
	others := p.othersLocked(s)
	list := make([]Person, 0, len(others))
	for _, o := range others {
		list = append(list, o.presence.person)
	}
	p.mu.Unlock()
	s.isOnline.Store(true)

	if old != nil {
		old.sendError(CodeReplaced, "the same identity went online on another connection")
		old.closeWith(StatusReplaced, CodeReplaced)
	}
	s.send(&Message{Type: TypePresence, Name: st.person.Name, Identity: st.person.Identity, People: list})
	person := st.person
	for _, o := range others {
		o.send(&Message{Type: TypePersonOnline, Person: &person})
	}
	s.log.Info("online", "name", st.person.Name, "directory", st.key.dir)
	return true
}

// othersLocked returns the sessions online in s's directory besides s.
func (p *presence) othersLocked(s *session) []*session {
	var out []*session
	for k, o := range p.people {
		if k.dir == s.presence.key.dir && o != s {
			out = append(out, o)
		}
	}
	return out
}

// lookupLocked finds who is online under name in dir.
func (p *presence) lookupLocked(dir, name string) *session {
	return p.people[personKey{dir: dir, name: name}]
}

// setInCall records that an online session entered or left a room, and tells the directory.
func (s *session) setInCall(in bool) {
	if !s.isOnline.Load() {
		return
	}
	p := &s.h.presence
	p.mu.Lock()
	if s.presence.person.InCall == in {
		p.mu.Unlock()
		return
	}
	s.presence.person.InCall = in
	person := s.presence.person
	others := p.othersLocked(s)
	p.mu.Unlock()
	for _, o := range others {
		o.send(&Message{Type: TypePersonOnline, Person: &person})
	}
}

// offline takes the session out of the directory when it ends, and ends its calls.
func (s *session) offline() {
	if !s.isOnline.Load() {
		return
	}
	p := &s.h.presence
	p.mu.Lock()
	var others []*session
	if p.people[s.presence.key] == s {
		delete(p.people, s.presence.key)
		others = p.othersLocked(s)
	}
	var ended []*call
	for _, c := range []*call{s.presence.outgoing, s.presence.incoming} {
		if c != nil {
			ended = append(ended, c)
		}
	}
	for _, c := range ended {
		p.endLocked(c)
	}
	p.mu.Unlock()
	for _, c := range ended {
		if c.caller == s {
			c.callee.send(&Message{Type: TypeCallResult, CallID: c.id, Result: ResultCancelled})
		} else {
			c.caller.send(&Message{Type: TypeCallResult, CallID: c.id, Result: ResultOffline})
		}
	}
	for _, o := range others {
		o.send(&Message{Type: TypePersonOffline, Name: s.presence.person.Name, Identity: s.presence.person.Identity})
	}
}

// mayJoinByCall reports whether the session may join room because a call there was accepted,
// and with what grant (tokens only: such a room is not the one the token names).
func (s *session) mayJoinByCall(room string) (token.Grant, bool) {
	if !s.isOnline.Load() {
		return token.Grant{}, false
	}
	p := &s.h.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.granted[s.presence.key][room]
	return s.presence.grant, ok && time.Now().Before(until)
}
