package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/signal/client"
	"github.com/sfu-project/sfu/signal/token"
)

const testAPIKeys = "k1:0123456789abcdef0123456789abcdef"

// sfu token mints a token that the server, configured with the same keys, accepts; a join
// without one is refused.
func TestTokenSubcommand(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"token", "-api-keys", testAPIKeys, "-room", "demo", "-identity", "alice",
		"-name", "Alice", "-ttl", "10m", "-no-publish"}, env{stdout: &out, stderr: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	keys, _ := token.ParseKeys(testAPIKeys)
	g, err := keys.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if g != (token.Grant{Room: "demo", Identity: "alice", Name: "Alice", CanSubscribe: true, CanPublishData: true}) {
		t.Fatalf("grant %+v", g)
	}

	s, _, _ := startInProcess(t, "-api-keys", testAPIKeys)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Join(ctx, client.Config{URL: wsURL(s), Room: "demo", Name: "x"}); err == nil || !strings.Contains(err.Error(), "token_required") {
		t.Fatalf("a join without a token: %v, want token_required", err)
	}
	c, err := client.Join(ctx, client.Config{URL: wsURL(s) + "?token=" + tok})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Joined.Room != "demo" || c.Joined.Identity != "alice" || c.Joined.Permissions.Publish {
		t.Fatalf("joined %+v", c.Joined)
	}
}

func TestTokenSubcommandNeedsKeysAndNames(t *testing.T) {
	t.Setenv("SFU_API_KEYS", "")
	for _, args := range [][]string{
		{"token", "-room", "demo", "-identity", "alice"},                       // no keys anywhere
		{"token", "-api-keys", testAPIKeys, "-identity", "alice"},              // no room
		{"token", "-api-keys", "k1:short", "-room", "demo", "-identity", "al"}, // weak secret
		{"token", "-api-keys", testAPIKeys, "-room", "demo", "-identity", "al", "-api-key", "k9"},
	} {
		err := run(context.Background(), args, env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
		if !errors.Is(err, errConfig) {
			t.Errorf("%v: %v, want a configuration error", args, err)
		}
	}
}
