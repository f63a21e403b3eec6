package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// config is what the Options set. Each field has a working default (see defaultConfig), so
// New() with no options serves on UDP :7882.
type config struct {
	udpAddr         string
	udpConn         net.PacketConn
	iceTCPAddr      string
	publicIPs       []string
	loopback        bool
	keyframeEvery   time.Duration
	queueLen        int
	iceDisconnected time.Duration
	iceFailed       time.Duration
	iceKeepalive    time.Duration
	logger          *slog.Logger
	onJoinLatency   func(time.Duration)
	bwe             bool // estimate each subscriber's downlink and allocate it
	bweInitial      int  // bits per second
	bweMax          int
	dynacast        bool
	maxRooms        int // 0: no limit
	maxParticipants int // per room
	maxTracks       int // published per participant
	connectTimeout  time.Duration
}

func defaultConfig() config {
	return config{
		udpAddr:         ":7882",
		keyframeEvery:   500 * time.Millisecond,
		queueLen:        128,
		iceDisconnected: 4 * time.Second,
		iceFailed:       10 * time.Second,
		iceKeepalive:    2 * time.Second,
		logger:          slog.Default(),
		bwe:             true,
		bweInitial:      2_500_000,
		bweMax:          20_000_000,
		dynacast:        true,
		maxRooms:        1000,
		maxParticipants: 100,
		maxTracks:       8,
		connectTimeout:  30 * time.Second,
	}
}

// Option configures a Server.
type Option func(*config) error

// WithUDPAddr sets the one UDP address all WebRTC media of all peers goes through (ICE UDP mux).
// Default ":7882".
func WithUDPAddr(addr string) Option {
	return func(c *config) error {
		if _, err := net.ResolveUDPAddr("udp", addr); err != nil {
			return fmt.Errorf("sfu: UDP address %q: %w", addr, err)
		}
		c.udpAddr = addr
		return nil
	}
}

// WithUDPConn makes the server use conn for all media instead of listening itself. The server
// closes it on Close.
func WithUDPConn(conn net.PacketConn) Option {
	return func(c *config) error {
		if conn == nil {
			return errors.New("sfu: nil UDP conn")
		}
		c.udpConn = conn
		return nil
	}
}

// WithPublicIPs announces these addresses in ICE host candidates instead of the interface
// addresses: for a server behind 1:1 NAT (a cloud VM, a container with a published port).
func WithPublicIPs(ips ...string) Option {
	return func(c *config) error {
		for _, ip := range ips {
			if net.ParseIP(ip) == nil {
				return fmt.Errorf("sfu: public IP %q is not an IP address", ip)
			}
		}
		c.publicIPs = ips
		return nil
	}
}

// WithLoopbackCandidates offers loopback addresses as ICE candidates (off by default: browsers on
// other machines cannot use them). Tests on 127.0.0.1 need it.
func WithLoopbackCandidates(on bool) Option {
	return func(c *config) error { c.loopback = on; return nil }
}

// WithKeyframeInterval sets the least time between two keyframe requests (PLI) sent to the
// publisher of one track, however many subscribers ask. Default 500 ms.
func WithKeyframeInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("sfu: keyframe interval must be positive")
		}
		c.keyframeEvery = d
		return nil
	}
}

// WithQueueLength sets how many packets may wait for one subscriber's writer before it drops video
// up to the next keyframe. Default 128.
func WithQueueLength(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return errors.New("sfu: queue length must be at least 1")
		}
		c.queueLen = n
		return nil
	}
}

// WithICETimeouts sets when a silent peer counts as disconnected and as failed (then it is
// removed), and whether the server sends keepalives of its own (0: none; Pion's agent sends one
// every 2 s whatever other value is given). Defaults 4 s, 10 s, 2 s. Without keepalives, Chromium
// peers in the browser suite were declared failed 14-17 s after joining although media flowed:
// Pion judges liveness by the selected candidate pair's remote alone, and the answers to its own
// keepalives are what keeps that fresh.
func WithICETimeouts(disconnected, failed, keepalive time.Duration) Option {
	return func(c *config) error {
		c.iceDisconnected, c.iceFailed, c.iceKeepalive = disconnected, failed, keepalive
		return nil
	}
}

// WithLogger sets the logger; by default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("sfu: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithJoinLatency has f called, once per participant, with the time from Join to its
// PeerConnection connecting (a metrics histogram). f must not block.
func WithJoinLatency(f func(time.Duration)) Option {
	return func(c *config) error { c.onJoinLatency = f; return nil }
}

// WithICETCPAddr also accepts ICE over TCP on addr, for clients whose networks block UDP. Off by
// default: media over TCP suffers on lossy links.
func WithICETCPAddr(addr string) Option {
	return func(c *config) error {
		if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
			return fmt.Errorf("sfu: ICE TCP address %q: %w", addr, err)
		}
		c.iceTCPAddr = addr
		return nil
	}
}

// WithBandwidthEstimation turns the estimation of each subscriber's downlink (Google Congestion
// Control over transport-wide feedback) on or off; it is on by default. initial is the estimate a
// connection starts from and max the most it may reach, in bits per second; 0 keeps the
// defaults (2.5 and 20 Mbit/s). Without it every subscriber gets the layers its tiles ask for,
// whatever its link.
func WithBandwidthEstimation(on bool, initial, max int) Option {
	return func(c *config) error {
		if initial < 0 || max < 0 || (initial > 0 && initial < minEstimate) || (max > 0 && initial > max) {
			return errors.New("sfu: bandwidth estimation: need 0 or " + itoa(minEstimate) + " <= initial <= max")
		}
		c.bwe = on
		if initial > 0 {
			c.bweInitial = initial
		}
		if max > 0 {
			c.bweMax = max
		}
		return nil
	}
}

// WithDynacast turns dynacast on or off (on by default): simulcast layers that no subscriber
// needs are paused at the publisher (Signaller.PublishLayers).
func WithDynacast(on bool) Option {
	return func(c *config) error {
		c.dynacast = on
		return nil
	}
}

// WithLimits bounds the rooms on the server, the participants in a room and the audio and
// video tracks a participant publishes; 0 means no limit. The defaults are 1000 rooms, 100
// participants and 8 tracks (a camera, a microphone, a screen and its sound, and room to spare).
func WithLimits(rooms, participantsPerRoom, tracksPerParticipant int) Option {
	return func(c *config) error {
		if rooms < 0 || participantsPerRoom < 0 || tracksPerParticipant < 0 {
			return errors.New("sfu: limits must be 0 (none) or positive")
		}
		c.maxRooms, c.maxParticipants, c.maxTracks = rooms, participantsPerRoom, tracksPerParticipant
		return nil
	}
}

// WithConnectTimeout bounds the time from a join to a connected PeerConnection (30 s by default):
// a participant whose ICE or DTLS never completes, or that never offers, is then removed, with
// ErrConnectTimeout, and its resources with it.
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("sfu: the connect timeout must be positive")
		}
		c.connectTimeout = d
		return nil
	}
}
