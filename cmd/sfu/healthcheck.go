package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// healthcheck asks the server configured by the same settings (flags, environment, file) for
// /healthz on the loopback address. It is the container's HEALTHCHECK: the image has no curl.
func healthcheck(ctx context.Context, args []string, e env) error {
	cfg, err := loadConfig(args, e.stderr)
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("%w: -http %q: %v", errConfig, cfg.httpAddr, err)
	}
	scheme := "http"
	if cfg.tlsCert != "" || cfg.domain != "" {
		scheme = "https"
	}
	url := scheme + "://" + net.JoinHostPort("127.0.0.1", port) + "/healthz"
	client := &http.Client{
		Timeout: 3 * time.Second,
		// The certificate is for the public name, not 127.0.0.1; this only asks "are you alive".
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnhealthy, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %s", errUnhealthy, url, resp.Status)
	}
	fmt.Fprintln(e.stdout, "healthy")
	return nil
}
