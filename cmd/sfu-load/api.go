package main

import (
	"net"
	"net/url"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/signal/client"
)

// newAPI is the Pion API of every load-test client: a browser's as far as the server can tell
// (default codecs, NACKs and PLIs for what it receives, RTCP reports, transport-wide sequence
// numbers on what it sends and feedback on what it receives, so the server's downlink estimate
// works), but without what costs the tester CPU per packet and the server never sees: Pion's
// NACK responder (publishers resend from their own ring, publisher.go) and its stats
// interceptor. Against a server on this machine it uses loopback addresses only, like the
// tests; otherwise the host's ordinary interfaces.
func newAPI(loopback bool) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(gen)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCSender(m, reg); err != nil { // feedback on what it receives
		return nil, err
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil { // numbers on what it sends
		return nil, err
	}
	var s webrtc.SettingEngine
	if loopback {
		s = client.LoopbackSettings()
	} else {
		s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // hundreds of clients, one host
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s)), nil
}

// isLoopback reports whether the signaling URL names this machine by a loopback address.
func isLoopback(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
