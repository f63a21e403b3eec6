// Command sfu is the SFU media server: HTTP and the signaling WebSocket on one TCP address, all
// WebRTC media on one UDP port, and the example web client at /.
//
//	sfu [flags]               serve (sfu -help lists every setting)
//	sfu healthcheck [flags]   exit 0 if the server configured by the same flags is alive
//
// On SIGTERM or SIGINT the server drains: it stops accepting joins (/readyz fails), tells the
// clients, lets calls go on for -drain-grace, then closes every peer and exits 0. A second
// signal ends it at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first signal starts the drain; a second one ends the process at once. Both come
	// through one buffered channel, so a second signal is never lost in between.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-signals
		cancel()
		<-signals
		fmt.Fprintln(os.Stderr, "sfu: second signal: exiting now")
		os.Exit(1)
	}()
	err := run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr})
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errConfig):
		fmt.Fprintln(os.Stderr, "sfu:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "sfu:", err)
		os.Exit(1)
	}
}

// env is what run needs from its surroundings; tests give their own.
type env struct {
	stdout, stderr io.Writer
	// ready, if set, is called with the server once it accepts connections.
	ready func(*server)
}

func run(ctx context.Context, args []string, e env) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:], e)
	}
	if len(args) > 0 && args[0] == "token" {
		return mintToken(args[1:], e)
	}
	cfg, err := loadConfig(args, e.stderr)
	if err != nil {
		return err
	}
	srv, err := start(cfg, e.stderr)
	if err != nil {
		return err
	}
	if e.ready != nil {
		e.ready(srv)
	}
	return srv.serveUntil(ctx)
}
