package e2e

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/sfu-project/sfu/signal/token"
)

// TestTokenRefusedIsExplained opens the app with access links the server refuses, and checks
// that the page tells the person why instead of trying again: an expired link, and a link for
// another room. A valid link, meanwhile, joins.
func TestTokenRefusedIsExplained(t *testing.T) {
	chromiumPath(t)
	keys := token.Keys{"key1": "0123456789abcdef0123456789abcdef"}
	srv := startServer(t, nil, "-http", "127.0.0.1:0", "-udp", "127.0.0.1:0", "-loopback-candidates",
		"-api-keys", "key1:"+keys["key1"])
	room := roomName("tokens")
	mint := func(room, identity string, ttl time.Duration) string {
		tok, err := keys.Mint("key1", token.Grant{Room: room, Identity: identity, CanPublish: true, CanSubscribe: true, CanPublishData: true}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	link := func(q url.Values) string { return "http://" + srv.httpAddr + "/?" + q.Encode() }

	pages := openBrowsers(t,
		browserSpec{name: "expired", url: link(url.Values{"token": {mint(room, "eve", -time.Minute)}})},
		browserSpec{name: "elsewhere", url: link(url.Values{"room": {room}, "token": {mint("another-room", "mallory", time.Hour)}})},
		browserSpec{name: "valid", url: link(url.Values{"token": {mint(room, "ann", time.Hour)}})},
	)
	for _, c := range []struct {
		b     *browser
		title string
	}{
		{pages[0], "Your access link has expired"},
		{pages[1], "Your access link is for another room"},
	} {
		err := c.b.waitFor("the page does not say why the link was refused",
			`window.sfuClient?.state === 'failed' && !document.querySelector('#left').hidden && document.querySelector('#left-title').textContent === `+strconv.Quote(c.title))
		if err != nil {
			t.Error(err)
		}
	}
	if s, err := waitJoined(pages[2]); err != nil {
		t.Fatalf("the valid link did not join: %v", err)
	} else if s.State != "joined" {
		t.Fatalf("the valid link's page is %q", s.State)
	}
}
