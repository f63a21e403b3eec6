package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// dockerfileBuild is the Dockerfile's build command, with its output moved to a temporary file.
// The test builds with exactly the environment and flags the image uses.
var dockerfileBuild = regexp.MustCompile(`^RUN (CGO_ENABLED=0 go build .*) -o /out/sfu (\./cmd/sfu)$`)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// buildAsDockerfile builds the server the way the Dockerfile does, once per test run.
func buildAsDockerfile(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		f, err := os.Open("../../Dockerfile")
		if err != nil {
			buildErr = err
			return
		}
		defer f.Close()
		var cmdline, pkg string
		for sc := bufio.NewScanner(f); sc.Scan(); {
			if m := dockerfileBuild.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
				cmdline, pkg = m[1], m[2]
			}
		}
		if cmdline == "" {
			buildErr = os.ErrNotExist
			return
		}
		dir, err := os.MkdirTemp("", "sfu-build-*")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "sfu")
		// Docker runs a RUN line with /bin/sh -c; so does the test.
		cmd := exec.Command("/bin/sh", "-c", cmdline+" -o "+binary+" "+pkg)
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err, string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("building as the Dockerfile does: %v", buildErr)
	}
	return binary
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func TestDockerfileBuildsAStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildAsDockerfile(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("the binary is dynamically linked (%v): it cannot run in a scratch image", p.Type)
		}
	}
	// It runs, and its help lists the settings, as the container's users will see them.
	out, err := exec.Command(bin, "-help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-public-ip") {
		t.Fatalf("sfu -help: %v\n%s", err, out)
	}
}

func TestDockerfileShape(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d := string(b)
	for _, want := range []string{
		"FROM golang:1.26 AS build", "FROM scratch", "EXPOSE 8080/tcp 7882/udp",
		`HEALTHCHECK`, `CMD ["/sfu", "healthcheck"]`, "ca-certificates.crt", `ENTRYPOINT ["/sfu"]`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(d); m == nil || strings.HasPrefix(m[1], "0") || m[1] == "root" {
		t.Errorf("the image must run as a non-root user; USER = %v", m)
	}
}
