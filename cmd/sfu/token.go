package main

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"time"

	"github.com/sfu-project/sfu/signal/token"
)

// mintToken is "sfu token": it prints an access token for one participant, signed with an API
// key of the server's configuration (-api-keys, SFU_API_KEYS, or the -config file's api-keys).
//
//	sfu token -room demo -identity alice [-name Alice] [-ttl 1h] [-no-publish] [-no-subscribe] [-no-data] [-api-key K]
func mintToken(args []string, e env) error {
	fs := flag.NewFlagSet("sfu token", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	configFile := fs.String("config", "", "the server's YAML settings, for its api-keys")
	apiKeys := fs.String("api-keys", "", "API keys and secrets, key:secret,... (default: the server's configuration)")
	apiKey := fs.String("api-key", "", "the API key to sign with (default: the only one, or the first by name)")
	var g token.Grant
	fs.StringVar(&g.Room, "room", "", "the room the token admits to (required)")
	fs.StringVar(&g.Identity, "identity", "", "the participant's identity, unique in the room (required)")
	fs.StringVar(&g.Name, "name", "", "the display name (default: the one the client sends)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	noPublish := fs.Bool("no-publish", false, "the participant may not send audio or video")
	noSubscribe := fs.Bool("no-subscribe", false, "the participant receives no audio or video")
	noData := fs.Bool("no-data", false, "the participant may not send data (chat)")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: sfu token -room R -identity I [flags]\n\nPrints an access token for the server's web client (?token=) or join message.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	if g.Room == "" || g.Identity == "" {
		return fmt.Errorf("%w: sfu token needs -room and -identity", errConfig)
	}
	if *ttl <= 0 {
		return fmt.Errorf("%w: -ttl must be positive", errConfig)
	}
	keys, err := token.ParseKeys(*apiKeys)
	if err != nil {
		return fmt.Errorf("%w: -api-keys: %v", errConfig, err)
	}
	if len(keys) == 0 {
		var cargs []string
		if *configFile != "" {
			cargs = []string{"-config", *configFile}
		}
		cfg, err := loadConfig(cargs, e.stderr)
		if err != nil {
			return err
		}
		keys = cfg.keys
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: no API keys: set -api-keys, SFU_API_KEYS, or api-keys in the -config file", errConfig)
	}
	key := *apiKey
	if key == "" {
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		key = names[0]
	}
	g.CanPublish, g.CanSubscribe, g.CanPublishData = !*noPublish, !*noSubscribe, !*noData
	tok, err := keys.Mint(key, g, *ttl)
	if err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}
