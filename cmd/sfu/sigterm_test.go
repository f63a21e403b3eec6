package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/client"
)

// startBinary runs the built server and returns its base URL once it is ready.
func startBinary(t *testing.T, args ...string) (*exec.Cmd, string, <-chan error) {
	t.Helper()
	bin := buildAsDockerfile(t)
	cmd := exec.Command(bin, append([]string{"-http", "127.0.0.1:0", "-udp", "127.0.0.1:0", "-loopback-candidates"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	urls := make(chan string, 1)
	go func() {
		ready := regexp.MustCompile(`msg="sfu ready" http=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(sc.Text())
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				urls <- "http://" + m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case u := <-urls:
		return cmd, u, exited
	case err := <-exited:
		t.Fatalf("the server exited at start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start within 10 s")
	}
	return nil, "", nil
}

func TestSIGTERMDrainsTheCallAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd, url, exited := startBinary(t, "-drain-grace", "1s")
	ws := strings.Replace(url, "http", "ws", 1) + "/ws"
	alice := publishVP8(t, ws, "sigterm", "alice", nil)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waitType(alice.Events, signal.TypeDraining):
	case <-time.After(5 * time.Second):
		t.Fatal("the client was not told of the drain")
	}
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the drain = %d, want 503", resp.StatusCode)
	}
	// alice stays: the grace period (1 s) ends the call, and the server exits 0.
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not exit after the grace period")
	}
	select {
	case <-alice.Done():
		if code := alice.CloseStatus(); code != 1001 {
			t.Errorf("the client's socket closed with %v, want 1001 going away", code)
		}
	case <-time.After(2 * time.Second):
		t.Error("the client's socket stayed open after the server exited")
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd, url, exited := startBinary(t, "-drain-grace", "1m")
	ws := strings.Replace(url, "http", "ws", 1) + "/ws"
	c, err := client.Join(context.Background(), client.Config{URL: ws, Room: "twice", Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-waitType(c.Events, signal.TypeDraining)
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err == nil {
			t.Fatal("the second signal ended the process with status 0; want killed by the signal")
		}
		t.Logf("exited %v after the second signal: %v", time.Since(start), err)
	case <-time.After(3 * time.Second):
		t.Fatal("a second SIGTERM during a one-minute drain did not end the process")
	}
}
