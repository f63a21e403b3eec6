package sfu

import (
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// The codecs the server negotiates: whatever a browser publishes among these is forwarded as is
// (an SFU does not transcode). Each video codec has an RTX codec, so retransmissions can go on
// their own stream, as browsers expect.
var (
	videoFeedback = []webrtc.RTCPFeedback{
		{Type: "goog-remb"}, {Type: "transport-cc"}, {Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
	audioCodecs = []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}}}, PayloadType: 111},
	}
	videoCodecs = []webrtc.RTPCodecParameters{
		video(webrtc.MimeTypeVP8, "", 96),
		video(webrtc.MimeTypeVP9, "profile-id=0", 98),
		video(webrtc.MimeTypeVP9, "profile-id=2", 100),
		video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 102),
		video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 104),
		video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f", 106),
		video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f", 108),
		video(webrtc.MimeTypeAV1, "", 45),
	}
)

func video(mime, fmtp string, pt webrtc.PayloadType) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{PayloadType: pt, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: videoFeedback}}
}

func rtxFor(pt webrtc.PayloadType) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{PayloadType: pt + 1, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", pt)}}
}

func registerCodecs(m *webrtc.MediaEngine) error {
	for _, c := range audioCodecs {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return err
		}
	}
	for _, c := range videoCodecs {
		for _, c := range []webrtc.RTPCodecParameters{c, rtxFor(c.PayloadType)} {
			if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
				return err
			}
		}
	}
	return nil
}

// codecPreferences is what the server offers a subscriber for a track: the publisher's codec
// alone (and its RTX). Offering every codec for every forwarded track would only make each SDP
// several kilobytes longer per member.
func codecPreferences(c webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	if strings.HasPrefix(strings.ToLower(c.MimeType), "audio/") {
		if m, ok := matchCodec(c, audioCodecs); ok {
			return []webrtc.RTPCodecParameters{m}
		}
		return nil
	}
	m, ok := matchCodec(c, videoCodecs)
	if !ok {
		return nil
	}
	return []webrtc.RTPCodecParameters{m, rtxFor(m.PayloadType)}
}
