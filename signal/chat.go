package signal

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Chat. A member sends {"type":"chat","text":...}; the server stamps it with the sender's
// participant id, name and the server's time, and relays it to every member of the sender's room,
// the sender included: the echo tells the sender the message went out, and everyone sees the
// room's messages in the same order with the same times. Nothing is kept: a member who joins
// later does not see what was said before.
//
// The room's membership is the media core's (sfu.Room.Participants); the sessions to write to
// are found by participant id in the handler's chatRelay. The media core knows nothing of chat.

// MaxChatText is the longest chat message, in characters (Unicode code points).
const MaxChatText = 2000

// Chat messages have their own limit on top of the connection's message rate: one chat message
// reaches every member of the room, so a flood of them costs the room, not just the server.
const (
	chatRate  = 5  // chat messages per second, on average
	chatBurst = 20 // chat messages at once
)

// chatRelay finds the session of a participant id, for relaying chat to a room's members.
type chatRelay struct {
	mu       sync.Mutex
	sessions map[string]*session // participant id -> its session
}

func (c *chatRelay) add(id string, s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = map[string]*session{}
	}
	c.sessions[id] = s
}

func (c *chatRelay) remove(id string, s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[id] == s {
		delete(c.sessions, id)
	}
}

func (c *chatRelay) lookup(ids []string) []*session {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*session, 0, len(ids))
	for _, id := range ids {
		if s := c.sessions[id]; s != nil {
			out = append(out, s)
		}
	}
	return out
}

// chat relays a member's chat message to its room. It runs on the sender's read goroutine.
func (s *session) chat(m *Message) {
	if !s.perms.Data {
		s.sendError(CodeNotAllowed, "the access token does not allow sending data (chat) to the room")
		return
	}
	text := m.Text
	if strings.TrimSpace(text) == "" {
		s.sendError(CodeBadChat, "a chat message needs some text")
		return
	}
	if n := utf8.RuneCountInString(text); n > MaxChatText {
		s.sendError(CodeBadChat, "chat messages are limited to "+itoa(MaxChatText)+" characters; this one has "+itoa(n))
		return
	}
	if s.chatLimiter == nil {
		s.chatLimiter = rate.NewLimiter(chatRate, chatBurst)
	}
	if !s.chatLimiter.Allow() {
		s.sendError(CodeRateLimited, "too many chat messages: this one was dropped")
		return
	}
	b, err := json.Marshal(&Message{Type: TypeChat, From: s.p.ID(), Name: s.p.Name(), Text: text, Time: time.Now().UnixMilli()})
	if err != nil {
		s.log.Error("cannot encode chat message", "err", err)
		return
	}
	infos := s.p.Room().Participants()
	ids := make([]string, len(infos))
	for i, info := range infos {
		ids[i] = info.ID
	}
	for _, member := range s.h.chat.lookup(ids) {
		member.enqueue(b)
	}
}
