// Package client is a Go client of the SFU's signaling protocol (docs/protocol.md): it joins a
// room over the WebSocket with one Pion PeerConnection, publishes the tracks it is given, and
// receives everyone else's. The integration tests and the load tester are built on it, and it
// shows how to embed a participant in a Go program.
//
// It is the polite peer of the protocol: when the server's offer crosses its own, its own is
// dropped; it answers the server's and offers again. Pion cannot roll back a local offer, so the
// client applies its offer locally only when the answer arrives: until then its connection stays
// stable and can take the server's offer. (This is safe for renegotiation because ICE
// credentials and DTLS roles do not change.)
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/signal"
)

// Config says what a Client does.
type Config struct {
	URL   string // the signaling WebSocket, ws://host:port/ws
	Room  string
	Name  string
	Token string // the access token, when the server requires one

	// Publish are the tracks sent from the first offer on.
	Publish []webrtc.TrackLocal

	// Simulcast are tracks sent as simulcast from the first offer on: each entry is the layers
	// of one track, one TrackLocal per RID (made with webrtc.WithRTPStreamID), all with the
	// same track and stream id.
	Simulcast [][]webrtc.TrackLocal

	// Describe are messages (trackInfo) sent after the join and before the first offer.
	Describe []signal.Message

	// API makes the PeerConnection; nil means LoopbackAPI().
	API *webrtc.API

	// OnTrack is called for each remote track, on its own goroutine. The callee must read the
	// track until it ends. With no OnTrack, tracks are read and discarded.
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)

	// OnRTCP receives the RTCP that the server sends about a published track (PLI, NACK,
	// receiver reports). It is called on the sender's RTCP reading goroutine.
	OnRTCP func(sender *webrtc.RTPSender, pkts []rtcp.Packet)

	// OnCandidate, if set, sees each ICE candidate the server trickles.
	OnCandidate func(webrtc.ICECandidateInit)

	// OnConnectionState, if set, is given to the PeerConnection as Join creates it, so it sees
	// every state change (Pion calls it on a goroutine of its own). The load tester times joins
	// to "connected" with it.
	OnConnectionState func(webrtc.PeerConnectionState)

	// DialOptions, if set, are used to dial the WebSocket (for TLS settings, say).
	DialOptions *websocket.DialOptions

	// Conn, if set, is an open signaling WebSocket to join on instead of dialing URL: one that
	// went "online" first and was called into a room (docs/protocol.md, Calls). The Client
	// owns it from then on.
	Conn *websocket.Conn

	// BeforeServerOffer, if set, is called on the reading goroutine before a server offer is
	// handled. Tests hold it to make their own offer cross the server's (glare).
	BeforeServerOffer func()
}

// Client is one participant.
type Client struct {
	cfg  Config
	conn *websocket.Conn
	PC   *webrtc.PeerConnection
	ID   string // the participant id the server gave

	// Joined is the server's joined message: the room, identity and permissions.
	Joined signal.Message

	// Events receives every message that is not part of negotiation: participantJoined,
	// participantLeft, participantUpdated, error. It is buffered; when full, events are dropped.
	Events chan signal.Message

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex                 // serialises negotiation
	needOffer  bool                       // an offer is due once the connection is stable again
	sentOffer  *webrtc.SessionDescription // sent, not yet answered, not yet applied
	candidates []webrtc.ICECandidateInit
	senders    []*webrtc.RTPSender
	gates      []*gatedTrack // tracks published after the join (gate.go)

	closeErr  error
	closeCode websocket.StatusCode
	done      chan struct{}
}

// LoopbackAPI is a Pion API like a browser's (default codecs and interceptors: NACK, reports,
// TWCC numbering and feedback) that uses only loopback addresses, for tests on one machine.
func LoopbackAPI() (*webrtc.API, error) { return LoopbackAPIWith(false) }

// LoopbackAPIWith is LoopbackAPI with more interceptors, nearest the network: the first sees
// incoming packets before any other (before TWCC feedback and NACKs are made of them). With
// simulcast, it can send simulcast: it negotiates the RID header extensions. (Only then: with
// them negotiated, Pion v4.2.20 probes a stream whose SSRC it has not declared yet from two
// goroutines at once, which the race detector reports.)
func LoopbackAPIWith(simulcast bool, first ...interceptor.Factory) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	for _, f := range first {
		reg.Add(f)
	}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	// Like a browser, name simulcast layers by RID.
	for _, uri := range []string{"urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"} {
		if !simulcast {
			break
		}
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	// Like a browser, send the audio level of each audio packet (RFC 6464).
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: "urn:ietf:params:rtp-hdrext:ssrc-audio-level"}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	// Like a browser, number outgoing packets for transport-wide congestion control, so the
	// server's TWCC feedback has something to report on.
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(LoopbackSettings())), nil
}

// LoopbackSettings gathers loopback candidates only and no mDNS.
func LoopbackSettings() webrtc.SettingEngine {
	s := webrtc.SettingEngine{}
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return s
}

// Join connects, joins the room and sends the first offer. It returns once the server has
// accepted the join; media flows shortly after.
func Join(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.API == nil {
		api, err := LoopbackAPI()
		if err != nil {
			return nil, err
		}
		cfg.API = api
	}
	conn := cfg.Conn
	if conn == nil {
		var err error
		if conn, _, err = websocket.Dial(ctx, cfg.URL, cfg.DialOptions); err != nil {
			return nil, fmt.Errorf("client: dial %s: %w", cfg.URL, err)
		}
	}
	conn.SetReadLimit(1 << 20)
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, conn: conn, Events: make(chan signal.Message, 256), ctx: cctx, cancel: cancel, done: make(chan struct{})}
	if err := c.Send(ctx, signal.Message{Type: signal.TypeJoin, Room: cfg.Room, Name: cfg.Name, Token: cfg.Token}); err != nil {
		c.abort()
		return nil, err
	}
	joined, err := c.readJoined(ctx)
	if err != nil {
		c.abort()
		return nil, err
	}
	c.ID = joined.ID
	c.Joined = joined
	for _, p := range joined.Participants {
		c.event(signal.Message{Type: signal.TypeParticipantJoined, Participant: &p})
	}
	if err := c.setupPeerConnection(); err != nil {
		c.abort()
		return nil, err
	}
	for _, m := range cfg.Describe {
		if err := c.Send(ctx, m); err != nil {
			c.abort()
			return nil, err
		}
	}
	c.wg.Add(1)
	go c.readLoop()
	if err := c.Offer(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) readJoined(ctx context.Context) (signal.Message, error) {
	for {
		m, err := c.read(ctx)
		if err != nil {
			return m, err
		}
		switch m.Type {
		case signal.TypeJoined:
			return m, nil
		case signal.TypeError:
			return m, fmt.Errorf("client: join refused: %s: %s", m.Code, m.Message)
		}
	}
}

func (c *Client) setupPeerConnection() error {
	pc, err := c.cfg.API.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	c.PC = pc
	if c.cfg.OnConnectionState != nil {
		pc.OnConnectionStateChange(c.cfg.OnConnectionState)
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		_ = c.Send(c.ctx, signal.Message{Type: signal.TypeCandidate, Candidate: &init})
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if c.cfg.OnTrack != nil {
			c.cfg.OnTrack(t, r)
			return
		}
		buf := make([]byte, 1500)
		for {
			if _, _, err := t.Read(buf); err != nil {
				return
			}
		}
	})
	for _, t := range c.cfg.Publish {
		if err := c.publish(t); err != nil {
			return err
		}
	}
	for _, layers := range c.cfg.Simulcast {
		if err := c.publish(layers[0], layers[1:]...); err != nil {
			return err
		}
	}
	if len(c.cfg.Publish) == 0 && len(c.cfg.Simulcast) == 0 {
		// The first offer needs an m-line; a receive-only client has none without this.
		if _, err := pc.CreateDataChannel("sfu", nil); err != nil {
			return err
		}
	}
	return nil
}

// publish adds t, and for simulcast the further layers of the same track.
func (c *Client) publish(t webrtc.TrackLocal, layers ...webrtc.TrackLocal) error {
	tr, err := c.PC.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	s := tr.Sender()
	for _, l := range layers {
		if err := s.AddEncoding(l); err != nil {
			return err
		}
	}
	c.senders = append(c.senders, s)
	// Each simulcast layer's RTCP (its PLIs, say) is read on its own.
	read := []func() ([]rtcp.Packet, error){func() ([]rtcp.Packet, error) { p, _, err := s.ReadRTCP(); return p, err }}
	for _, l := range layers {
		rid := l.RID()
		read = append(read, func() ([]rtcp.Packet, error) { p, _, err := s.ReadSimulcastRTCP(rid); return p, err })
	}
	for _, r := range read {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				pkts, err := r()
				if err != nil {
					return
				}
				if c.cfg.OnRTCP != nil {
					c.cfg.OnRTCP(s, pkts)
				}
			}
		}()
	}
	return nil
}

// Publish adds a track and renegotiates. The track sends once the server has answered an offer
// with it (gate.go); its sender's Track() is a wrapper, which Unwrap undoes.
func (c *Client) Publish(t webrtc.TrackLocal) error {
	c.mu.Lock()
	g := &gatedTrack{TrackLocal: t}
	err := c.publish(g)
	if err == nil {
		for _, tr := range c.PC.GetTransceivers() {
			if tr.Sender() != nil && tr.Sender().Track() == webrtc.TrackLocal(g) {
				g.tr = tr
			}
		}
		c.gates = append(c.gates, g)
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.Offer()
}

// Unpublish stops sending the track of sender and renegotiates.
func (c *Client) Unpublish(s *webrtc.RTPSender) error {
	if err := c.PC.RemoveTrack(s); err != nil {
		return err
	}
	return c.Offer()
}

// Senders returns the RTPSenders of the published tracks.
func (c *Client) Senders() []*webrtc.RTPSender {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*webrtc.RTPSender(nil), c.senders...)
}

// Offer sends an offer of the connection's current state, now if the connection is stable, or
// else as soon as it is.
func (c *Client) Offer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.needOffer = true
	return c.offerIfStable()
}

func (c *Client) offerIfStable() error {
	if !c.needOffer || c.sentOffer != nil || c.PC.SignalingState() != webrtc.SignalingStateStable {
		return nil
	}
	c.needOffer = false
	offer, err := c.PC.CreateOffer(nil)
	if err != nil {
		return err
	}
	c.sentOffer = &offer
	return c.Send(c.ctx, signal.Message{Type: signal.TypeOffer, SDP: offer.SDP})
}

// Send writes one message.
func (c *Client) Send(ctx context.Context, m signal.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.SendRaw(ctx, b)
}

// SendRaw writes bytes as one text message, well-formed or not.
func (c *Client) SendRaw(ctx context.Context, b []byte) error {
	return c.conn.Write(ctx, websocket.MessageText, b)
}

func (c *Client) read(ctx context.Context) (signal.Message, error) {
	var m signal.Message
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("client: bad message from server: %w", err)
	}
	return m, nil
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.done)
	for {
		m, err := c.read(c.ctx)
		if err != nil {
			c.closeErr = err
			c.closeCode = websocket.CloseStatus(err)
			return
		}
		if m.Type == signal.TypeOffer && c.cfg.BeforeServerOffer != nil {
			c.cfg.BeforeServerOffer()
		}
		if err := c.handle(m); err != nil {
			c.event(signal.Message{Type: signal.TypeError, Code: "client", Message: err.Error()})
		}
	}
}

func (c *Client) handle(m signal.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Type {
	case signal.TypeAnswer:
		if c.sentOffer == nil {
			return errors.New("client: an answer to no offer")
		}
		offer := *c.sentOffer
		c.sentOffer = nil
		if err := c.PC.SetLocalDescription(offer); err != nil {
			return err
		}
		if err := c.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			return err
		}
		c.openGates(m.SDP)
		if err := c.flushCandidates(); err != nil {
			return err
		}
		return c.offerIfStable()
	case signal.TypeOffer:
		if c.sentOffer != nil {
			// Glare: the server ignored our offer (it is impolite). Answer its offer, then offer again.
			c.sentOffer = nil
			c.needOffer = true
		}
		if err := c.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
			return err
		}
		if err := c.flushCandidates(); err != nil {
			return err
		}
		answer, err := c.PC.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := c.PC.SetLocalDescription(answer); err != nil {
			return err
		}
		if err := c.Send(c.ctx, signal.Message{Type: signal.TypeAnswer, SDP: answer.SDP}); err != nil {
			return err
		}
		return c.offerIfStable()
	case signal.TypeCandidate:
		if m.Candidate == nil {
			return nil
		}
		if c.cfg.OnCandidate != nil {
			c.cfg.OnCandidate(*m.Candidate)
		}
		if c.PC.RemoteDescription() == nil {
			c.candidates = append(c.candidates, *m.Candidate)
			return nil
		}
		return c.PC.AddICECandidate(*m.Candidate)
	case signal.TypeError:
		if (m.Code == signal.CodeBadSDP || m.Code == signal.CodeNotAllowed) && c.sentOffer != nil {
			c.sentOffer = nil // the server refused our offer; it was never applied here
		}
		c.event(m)
	default:
		c.event(m)
	}
	return nil
}

func (c *Client) flushCandidates() error {
	var errs []error
	for _, cand := range c.candidates {
		errs = append(errs, c.PC.AddICECandidate(cand))
	}
	c.candidates = nil
	return errors.Join(errs...)
}

func (c *Client) event(m signal.Message) {
	select {
	case c.Events <- m:
	default:
	}
}

// Done is closed when the server closed the signaling connection (or it broke).
func (c *Client) Done() <-chan struct{} { return c.done }

// CloseStatus is the WebSocket close code the server sent, once Done is closed (-1 if none).
func (c *Client) CloseStatus() websocket.StatusCode {
	<-c.done
	return c.closeCode
}

// Leave says goodbye and closes.
func (c *Client) Leave() {
	_ = c.Send(c.ctx, signal.Message{Type: signal.TypeLeave})
	c.Close()
}

// Close closes the connection without a goodbye, as a killed browser would, and waits for the
// client's goroutines.
func (c *Client) Close() {
	c.cancel()
	_ = c.conn.CloseNow()
	if c.PC != nil {
		_ = c.PC.Close()
	}
	c.wg.Wait()
}

func (c *Client) abort() {
	c.cancel()
	_ = c.conn.CloseNow()
}
