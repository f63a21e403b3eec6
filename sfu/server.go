package sfu

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"unicode/utf8"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu/bwe"
)

// MaxRoomName and MaxName bound what a client may call a room and itself, in bytes.
const (
	MaxRoomName = 128
	MaxName     = 128
)

// Server is the media core: its rooms, and the one UDP port all their media goes through.
type Server struct {
	cfg  config
	api  *webrtc.API
	conn net.PacketConn
	mux  ice.UDPMux
	tcp  net.Listener // ICE over TCP, or nil

	totals totals

	stopTick chan struct{}
	tickDone chan struct{}

	// pcMu makes each new PeerConnection's bandwidth estimator reach newPeerConnection: Pion
	// hands it to a callback inside NewPeerConnection, with no way to tell which connection it is for.
	pcMu   sync.Mutex
	newBWE *bwe.Estimator

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
}

// New starts a server: it opens the media UDP port and is then ready for Join.
func New(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	conn, err := listenUDP(&cfg)
	if err != nil {
		return nil, err
	}
	mux := webrtc.NewICEUDPMux(nil, conn)
	var tcp net.Listener
	var tcpMux ice.TCPMux
	if cfg.iceTCPAddr != "" {
		if tcp, err = net.Listen("tcp", cfg.iceTCPAddr); err != nil {
			_ = mux.Close()
			return nil, fmt.Errorf("sfu: cannot listen for ICE over TCP on %s: %w", cfg.iceTCPAddr, err)
		}
		tcpMux = webrtc.NewICETCPMux(nil, tcp, 8)
	}
	s := &Server{cfg: cfg, conn: conn, mux: mux, tcp: tcp, rooms: map[string]*Room{},
		stopTick: make(chan struct{}), tickDone: make(chan struct{})}
	api, err := newAPI(&s.cfg, mux, tcpMux, func(e *bwe.Estimator) { s.newBWE = e })
	if err != nil {
		_ = mux.Close()
		if tcpMux != nil {
			_ = tcpMux.Close()
		}
		return nil, err
	}
	s.api = api
	go s.tickLoop()
	return s, nil
}

// newPeerConnection makes a participant's connection and returns it with its downlink's
// bandwidth estimator (nil when estimation is off).
func (s *Server) newPeerConnection() (*webrtc.PeerConnection, *bwe.Estimator, error) {
	s.pcMu.Lock()
	defer s.pcMu.Unlock()
	s.newBWE = nil
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	return pc, s.newBWE, err
}

// UDPAddr is the address the media port is bound to.
func (s *Server) UDPAddr() net.Addr { return s.conn.LocalAddr() }

// Join adds a new participant called name to the room (made if missing). The participant's first
// event is sig.Joined. The client then sends its first offer to Participant.HandleOffer.
func (s *Server) Join(room, name string, sig Signaller, opts ...JoinOption) (*Participant, error) {
	jc := joinConfig{perms: AllowAll}
	for _, o := range opts {
		o(&jc)
	}
	if room == "" || len(room) > MaxRoomName || !utf8.ValidString(room) {
		return nil, ErrBadRoom
	}
	if len(name) > MaxName || !utf8.ValidString(name) {
		return nil, fmt.Errorf("sfu: invalid name")
	}
	for {
		r, err := s.room(room)
		if err != nil {
			return nil, err
		}
		p, err := newParticipant(s, r, name, sig)
		if err != nil {
			return nil, err
		}
		p.identity, p.perms = jc.identity, jc.perms
		ok, replaced, err := r.add(p)
		if err != nil {
			p.Close()
			s.removeRoom(r) // if it was made for p
			return nil, err
		}
		if ok {
			p.log.Info("participant joined", "name", name, "identity", jc.identity)
			if replaced != nil {
				replaced.sig.Closed(ErrReplaced)
				replaced.Leave("replaced by a new join of the same identity")
			}
			return p, nil
		}
		p.Close() // the room closed between lookup and add: try a new one
	}
}

func (s *Server) room(name string) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	r := s.rooms[name]
	if r == nil {
		if s.cfg.maxRooms > 0 && len(s.rooms) >= s.cfg.maxRooms {
			return nil, ErrTooManyRooms
		}
		r = &Room{name: name, server: s}
		s.rooms[name] = r
	}
	return r, nil
}

// removeRoom drops r if it is still empty.
func (s *Server) removeRoom(r *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.participants) == 0 && s.rooms[r.name] == r {
		r.closed = true
		delete(s.rooms, r.name)
	}
}

// Room returns the room called name, or nil.
func (s *Server) Room(name string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[name]
}

// Rooms returns the names of the rooms that have members.
func (s *Server) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.rooms))
	for n := range s.rooms {
		names = append(names, n)
	}
	return names
}

// Close ends every participant (telling each client through Signaller.Closed) and closes the
// media port. Joins after it fail with ErrServerClosed.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var all []*Participant
	for _, r := range s.rooms {
		r.mu.Lock()
		all = append(all, r.participants...)
		r.mu.Unlock()
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.sig.Closed(ErrServerClosed)
			p.Close()
		}()
	}
	wg.Wait()
	close(s.stopTick)
	<-s.tickDone
	errs := []error{s.mux.Close(), s.conn.Close()}
	if s.tcp != nil {
		errs = append(errs, s.tcp.Close())
	}
	return errors.Join(errs...)
}
