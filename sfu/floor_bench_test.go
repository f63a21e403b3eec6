//go:build linux || darwin

package sfu

import (
	"crypto/aes"
	"crypto/cipher"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// BenchmarkFloor measures the least that one more subscriber-packet can cost on this machine,
// the floor that docs/performance.md compares the forwarding path against: rewrite the RTP
// header, encrypt with SRTP AEAD_AES_128_GCM (Pion's srtp package, as the server negotiates),
// and one UDP send of the ~1030-byte result to a loopback socket that another goroutine reads.
// On loopback the send includes the kernel's delivery to the receiving socket, as the server's
// sends to clients on the same machine do in the load tests. ns/op is per packet.
func BenchmarkFloor(b *testing.B) {
	payload := make([]byte, 1012)
	hdr := rtp.Header{Version: 2, PayloadType: 96, SSRC: 0x1234, SequenceNumber: 1, Timestamp: 1}
	plain := make([]byte, 0, 1500)
	out := make([]byte, 0, 1600)
	key, salt := make([]byte, 16), make([]byte, 12)
	ctx, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		b.Fatal(err)
	}
	rewrite := func(i int) []byte {
		hdr.SequenceNumber, hdr.Timestamp = uint16(i), uint32(i)*3000
		n, err := hdr.MarshalTo(plain[:cap(plain)])
		if err != nil {
			b.Fatal(err)
		}
		return append(plain[:n], payload...)
	}
	encrypt := func(pkt []byte) []byte {
		enc, err := ctx.EncryptRTP(out[:0], pkt, nil)
		if err != nil {
			b.Fatal(err)
		}
		return enc
	}

	b.Run("step=rewrite", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			rewrite(i)
		}
	})
	b.Run("step=srtp-aes128gcm", func(b *testing.B) {
		pkt := rewrite(0)
		for b.Loop() {
			encrypt(pkt)
		}
	})
	// The cipher alone, from the standard library: what pion/srtp adds on top of it is the
	// difference from the step above.
	b.Run("step=aes128gcm-seal", func(b *testing.B) {
		block, err := aes.NewCipher(key)
		if err != nil {
			b.Fatal(err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			b.Fatal(err)
		}
		pkt := rewrite(0)
		for b.Loop() {
			gcm.Seal(out[:0], salt, pkt[12:], pkt[:12])
		}
	})
	b.Run("step=sendto", func(b *testing.B) {
		send, dst := loopbackSink(b, true)
		pkt := encrypt(rewrite(0))
		for b.Loop() {
			if _, err := send.WriteToUDPAddrPort(pkt, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The least a send can cost here: to a socket that nobody reads, whose full buffer makes the
	// kernel drop the packet on arrival, so no receiver is woken. What is left is the system
	// call, the UDP and IP output path and the loopback device: the part of a send that a real
	// network interface would not take away.
	b.Run("step=sendto-unread", func(b *testing.B) {
		send, dst := loopbackSink(b, false)
		pkt := encrypt(rewrite(0))
		for b.Loop() {
			if _, err := send.WriteToUDPAddrPort(pkt, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("step=all", func(b *testing.B) {
		send, dst := loopbackSink(b, true)
		for i := 0; b.Loop(); i++ {
			if _, err := send.WriteToUDPAddrPort(encrypt(rewrite(i)), dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// loopbackSink returns a socket to send from and the address of another, which a goroutine
// reads and discards until the benchmark ends if read is set, and which nobody reads if not.
func loopbackSink(b *testing.B, read bool) (*net.UDPConn, netip.AddrPort) {
	b.Helper()
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	if read {
		_ = recv.SetReadBuffer(udpBuffer)
	}
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !read {
			return
		}
		buf := make([]byte, 2048)
		for {
			if _, _, err := recv.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		_ = send.Close()
		_ = recv.Close()
		<-done
	})
	return send, recv.LocalAddr().(*net.UDPAddr).AddrPort()
}
