// Command sfu-load is a load tester for the SFU: Pion clients that speak its signaling protocol
// (package signal/client) join rooms, publishers send synthetic VP8 video and Opus-sized audio,
// everyone receives what the others publish, and it measures what arrives: tracks, packets and
// loss, end-to-end latency, join time, bitrates, and with --server-pid the server's CPU time per
// forwarded packet and its peak memory.
//
//	go run ./cmd/sfu-load --rooms 1 --publishers 1 --subscribers 20 --duration 30s --server-pid PID
//
// Every media payload carries the published track's index, a per-track packet counter and its
// send time (payload.go), so receivers count loss and latency without decoding anything. The
// receive path allocates nothing per packet, so that one core keeps up with many clients.
//
// Exit status: 0 when loss and missing tracks stay within --max-loss, 1 otherwise (or when the
// run could not happen), 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sfu-project/sfu/signal/token"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// realMain is main without the process: it returns the exit status.
func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sfu-load:", err)
		return 2
	}
	rep, err := run(ctx, cfg, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "sfu-load:", err)
	}
	return exitCode(rep, err)
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("sfu-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var apiKeys string
	fs.StringVar(&cfg.URL, "url", "ws://127.0.0.1:8080/ws", "the server's signaling WebSocket")
	fs.IntVar(&cfg.Rooms, "rooms", 1, "rooms")
	fs.IntVar(&cfg.Publishers, "publishers", 1, "publishers per room (each sends video and audio, and receives the others)")
	fs.IntVar(&cfg.Subscribers, "subscribers", 10, "subscribers per room (receive only)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "the measured time, after every client has joined")
	fs.DurationVar(&cfg.Ramp, "ramp", time.Second, "time over which the clients join (publishers first), evenly spaced")
	fs.IntVar(&cfg.VideoBitrate, "video-bitrate", 1_000_000, "each publisher's video, in bit/s (0: no video)")
	fs.BoolVar(&cfg.Audio, "audio", true, "publishers also send audio (50 packets/s of 100-160 bytes)")
	fs.DurationVar(&cfg.KeyframeInterval, "keyframe-interval", 3*time.Second, "time between a publisher's periodic keyframes (it also sends one on each PLI)")
	fs.DurationVar(&cfg.JoinTimeout, "join-timeout", 15*time.Second, "how long one join may take")
	fs.StringVar(&apiKeys, "api-keys", "", "the server's API keys, key:secret,... to mint an access token per client (default $SFU_API_KEYS; none: the server is open)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "pid of the server, when on this machine: report its CPU time and peak memory (Linux /proc)")
	fs.Float64Var(&cfg.MaxLoss, "max-loss", 1, "exit 1 when packet loss, or the share of tracks missing, exceeds this many percent")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON on stdout (the table goes to stderr)")
	fs.StringVar(&cfg.RoomPrefix, "room-prefix", "load", "room names are PREFIX-RUNID-N")
	fs.DurationVar(&cfg.Progress, "progress", time.Second, "time between progress lines on stderr (0: none)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sfu-load [flags]\n\nLoad-tests an SFU with Pion clients and prints what arrived. The server needs\n-max-connections-per-ip 0 (every client is one WebSocket from this address), and\n-loopback-candidates when it runs on this machine and --url is a loopback address.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "":
		return cfg, fmt.Errorf("--url %q: want ws://host:port/ws or wss://", cfg.URL)
	case cfg.Rooms < 1:
		return cfg, errors.New("--rooms must be at least 1")
	case cfg.Publishers < 0 || cfg.Subscribers < 0 || cfg.Publishers+cfg.Subscribers == 0:
		return cfg, errors.New("--publishers and --subscribers must not be negative, nor both 0")
	case cfg.Duration <= 0:
		return cfg, errors.New("--duration must be positive")
	case cfg.Ramp < 0:
		return cfg, errors.New("--ramp must not be negative")
	case cfg.VideoBitrate < 0 || (cfg.VideoBitrate > 0 && cfg.VideoBitrate < 8*framesPerSecond*(videoHeaderLen+markLen)):
		return cfg, fmt.Errorf("--video-bitrate must be 0 or at least %d", 8*framesPerSecond*(videoHeaderLen+markLen))
	case cfg.VideoBitrate > 100_000_000:
		return cfg, errors.New("--video-bitrate must be at most 100000000")
	case cfg.VideoBitrate == 0 && !cfg.Audio && cfg.Publishers > 0:
		return cfg, errors.New("publishers need something to send: --video-bitrate or --audio")
	case cfg.KeyframeInterval <= 0:
		return cfg, errors.New("--keyframe-interval must be positive")
	case cfg.JoinTimeout <= 0:
		return cfg, errors.New("--join-timeout must be positive")
	case cfg.ServerPID < 0:
		return cfg, errors.New("--server-pid must be a process id")
	case cfg.MaxLoss < 0:
		return cfg, errors.New("--max-loss must not be negative")
	case cfg.Progress < 0:
		return cfg, errors.New("--progress must not be negative")
	case cfg.RoomPrefix == "":
		return cfg, errors.New("--room-prefix must not be empty")
	}
	if apiKeys == "" {
		apiKeys = os.Getenv("SFU_API_KEYS")
	}
	keys, err := token.ParseKeys(apiKeys)
	if err != nil {
		return cfg, fmt.Errorf("--api-keys: %w", err)
	}
	cfg.APIKeys = keys
	if cfg.ServerPID > 0 {
		if _, err := readProc(cfg.ServerPID); err != nil {
			return cfg, fmt.Errorf("--server-pid %d: %w", cfg.ServerPID, err)
		}
	}
	return cfg, nil
}
