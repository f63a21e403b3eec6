// Command sfu is the SFU media server: HTTP and the signaling WebSocket on one TCP address, all
// WebRTC media on one UDP port, and the example web client at /.
//
// Every flag can also be set with an environment variable (SFU_ and the flag's name in capitals,
// dashes as underscores); a flag given on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sfu-project/sfu/examples"
	"github.com/sfu-project/sfu/sfu"
	sfusignal "github.com/sfu-project/sfu/signal"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sfu:", err)
		os.Exit(1)
	}
}

type options struct {
	httpAddr    string
	udpAddr     string
	publicIPs   string
	loopback    bool
	keyframe    time.Duration
	logLevel    string
	logFormat   string
	shutdownMax time.Duration
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("sfu", flag.ContinueOnError)
	fs.StringVar(&o.httpAddr, "http", ":8080", "TCP address for HTTP and the signaling WebSocket")
	fs.StringVar(&o.udpAddr, "udp", ":7882", "UDP address for all WebRTC media (one port, shared by every peer)")
	fs.StringVar(&o.publicIPs, "public-ip", "", "comma-separated IPs to announce in ICE candidates (server behind 1:1 NAT)")
	fs.BoolVar(&o.loopback, "loopback-candidates", false, "also offer 127.0.0.1 as an ICE candidate (tests, same-machine clients)")
	fs.DurationVar(&o.keyframe, "keyframe-interval", 500*time.Millisecond, "least time between keyframe requests to one publisher track")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.DurationVar(&o.shutdownMax, "shutdown-timeout", 10*time.Second, "how long shutdown may take before exiting anyway")
	// Environment variables first, so that flags given on the command line override them.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SFU_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	return o, fs.Parse(args)
}

func newLogger(o options) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", o.logLevel, err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, hopts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", o.logFormat)
}

func run(args []string) error {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(o)
	if err != nil {
		return err
	}
	slog.SetDefault(log)

	sopts := []sfu.Option{
		sfu.WithUDPAddr(o.udpAddr), sfu.WithLogger(log),
		sfu.WithLoopbackCandidates(o.loopback), sfu.WithKeyframeInterval(o.keyframe),
	}
	if o.publicIPs != "" {
		sopts = append(sopts, sfu.WithPublicIPs(strings.Split(o.publicIPs, ",")...))
	}
	media, err := sfu.New(sopts...)
	if err != nil {
		return err
	}
	sig := sfusignal.NewHandler(media, sfusignal.WithLogger(log))

	mux := http.NewServeMux()
	mux.Handle("/ws", sig)
	mux.Handle("/", http.FileServerFS(examples.Web()))
	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		_ = media.Close()
		return fmt.Errorf("cannot listen for HTTP on %s: %w", o.httpAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("sfu ready", "http", ln.Addr().String(), "udp", media.UDPAddr().String(),
		"open", "http://"+browserHost(ln.Addr())+"/?room=demo&name=alice")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-served:
		_ = media.Close()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	stop() // a second signal now kills the process at once
	log.Info("shutting down")
	done := make(chan struct{})
	go func() {
		defer close(done)
		sig.Close()
		_ = media.Close()
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownMax)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	select {
	case <-done:
		log.Info("stopped")
	case <-time.After(o.shutdownMax):
		log.Warn("shutdown timed out")
	}
	return nil
}

// browserHost is the host:port to print in the URL to open: localhost for a wildcard address.
func browserHost(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
