package sfu

import (
	"fmt"
	"net"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu/bwe"
)

// newAPI builds the one webrtc.API that every PeerConnection of the server is made from: codecs,
// interceptors and the ICE UDP mux are set up once here.
//
// Interceptors are chosen for an SFU, not taken from Pion's defaults:
//   - no NACK generator: publishers' losses are NACKed from the forwarding path (nack.go), which
//     sees RTX repairs and needs no timer per connection.
//   - no NACK responder: it would keep a copy of every packet per subscriber; subscribers' NACKs are
//     answered from the publisher's shared packet cache instead (downtrack.go).
//   - no report interceptors: receiver reports to publishers and sender reports to subscribers
//     are made by the server's tick (reports.go), without two timers per connection and a lock
//     per packet.
//   - TWCC feedback to publishers, so the browser's send-side bandwidth estimate works: not
//     Pion's, which hands every received packet to a goroutine per connection (twcc.go).
//   - TWCC sequence numbers on what subscribers receive, whose feedback gives each subscriber's
//     downlink estimate (package bwe), which allocation.go shares out over its tracks. Not Pion's
//     gcc: it allocates twice per packet and runs goroutines per connection.
//   - no intervalpli: keyframes are requested on demand and throttled (keyframe.go).
//   - no stats interceptor: it costs CPU on every packet and nothing reads it yet.
//
// onBWE is called, inside NewPeerConnection and on its goroutine, with the new connection's
// bandwidth estimator (see Server.newPeerConnection).
func newAPI(cfg *config, mux ice.UDPMux, tcpMux ice.TCPMux, onBWE func(*bwe.Estimator)) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, fmt.Errorf("sfu: register codecs: %w", err)
	}
	audio, video := webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo
	for _, e := range []struct {
		uri   string
		kinds []webrtc.RTPCodecType
	}{
		{audioLevelURI, []webrtc.RTPCodecType{audio}},
		{"urn:ietf:params:rtp-hdrext:sdes:mid", []webrtc.RTPCodecType{audio, video}},
		// Simulcast: a publisher names each layer's stream by its RID, and its RTX stream by RRID.
		{"urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", []webrtc.RTPCodecType{video}},
		{"urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id", []webrtc.RTPCodecType{video}},
	} {
		for _, kind := range e.kinds {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, kind); err != nil {
				return nil, fmt.Errorf("sfu: register header extension %s: %w", e.uri, err)
			}
		}
	}

	reg := &interceptor.Registry{}
	// Downlink estimation first, nearest the network: it takes the transport-wide feedback out
	// of the RTCP before anything after it parses it (bwe.Interceptor.BindRTCPReader), and
	// notes each packet's send time last, just before encryption.
	if cfg.bwe {
		reg.Add(&bwe.Factory{
			Config: bwe.Config{Initial: cfg.bweInitial, Min: minEstimate, Max: cfg.bweMax},
			OnNew:  onBWE,
		})
	}
	if err := configureTWCCFeedback(m, reg); err != nil {
		return nil, fmt.Errorf("sfu: twcc: %w", err)
	}

	s := webrtc.SettingEngine{}
	s.SetICEUDPMux(mux)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if tcpMux != nil {
		s.SetICETCPMux(tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	s.SetNetworkTypes(networks)
	s.SetIncludeLoopbackCandidate(cfg.loopback)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // the server has real addresses to offer
	s.SetICETimeouts(cfg.iceDisconnected, cfg.iceFailed, cfg.iceKeepalive)
	// AES-GCM costs about a seventh of AES-CM-HMAC-SHA1 per packet through Pion; browsers accept both.
	s.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	if len(cfg.publicIPs) > 0 {
		if err := s.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.publicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("sfu: public IPs: %w", err)
		}
	}

	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s)), nil
}

// listenUDP opens the one media port.
func listenUDP(cfg *config) (net.PacketConn, error) {
	if cfg.udpConn != nil {
		return cfg.udpConn, nil
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.udpAddr)
	if err != nil {
		return nil, fmt.Errorf("sfu: UDP address %q: %w", cfg.udpAddr, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("sfu: cannot listen for media on UDP %s: %w", cfg.udpAddr, err)
	}
	// Every peer's media arrives on this one socket: give it a deep buffer (the kernel caps the
	// request at net.core.rmem_max, which cmd/sfu checks at start-up).
	_ = conn.SetReadBuffer(udpBuffer)
	_ = conn.SetWriteBuffer(udpBuffer)
	return conn, nil
}

// udpBuffer is the socket buffer asked for on the media port.
const udpBuffer = 8 << 20
