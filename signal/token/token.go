// Package token mints and checks the access tokens that let a client join a room: JSON Web
// Tokens signed with HMAC-SHA256 (github.com/golang-jwt/jwt/v5) by an API key's secret.
//
// A token names the API key that signed it (iss), the participant's identity (sub), the room,
// a display name, what the participant may do, and when the token expires (exp, required):
//
//	{"iss": "APIkey1", "sub": "alice", "room": "demo", "name": "Alice",
//	 "publish": true, "subscribe": true, "data": true, "exp": 1795000000, "nbf": ..., "iat": ...}
//
// publish, subscribe and data may be left out, which allows them.
package token

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Grant is what a token allows.
type Grant struct {
	Room           string
	Identity       string
	Name           string
	CanPublish     bool // send audio and video
	CanSubscribe   bool // receive the others' audio and video
	CanPublishData bool // send data (chat)
}

// claims is the token's JSON payload.
type claims struct {
	Room      string `json:"room"`
	Name      string `json:"name,omitempty"`
	Publish   *bool  `json:"publish,omitempty"`
	Subscribe *bool  `json:"subscribe,omitempty"`
	Data      *bool  `json:"data,omitempty"`
	jwt.RegisteredClaims
}

// Errors of Verify. Every refusal wraps one of them.
var (
	ErrMalformed  = errors.New("token: malformed")
	ErrExpired    = errors.New("token: expired")
	ErrSignature  = errors.New("token: bad signature")
	ErrUnknownKey = errors.New("token: unknown API key")
)

// Keys maps API keys to their secrets.
type Keys map[string]string

// ParseKeys reads "key:secret" pairs separated by commas. Secrets must be at least 32 bytes:
// HMAC-SHA256 with a shorter secret is open to guessing.
func ParseKeys(s string) (Keys, error) {
	keys := Keys{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, secret, ok := strings.Cut(pair, ":")
		if !ok || k == "" {
			return nil, fmt.Errorf("API key %q: want key:secret", pair)
		}
		if len(secret) < 32 {
			return nil, fmt.Errorf("API key %q: the secret must be at least 32 bytes", k)
		}
		keys[k] = secret
	}
	return keys, nil
}

// Mint signs a token for g with the API key key, valid for ttl from now.
func (ks Keys) Mint(key string, g Grant, ttl time.Duration) (string, error) {
	secret, ok := ks[key]
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownKey, key)
	}
	if g.Room == "" || g.Identity == "" {
		return "", errors.New("token: a room and an identity are needed")
	}
	now := time.Now()
	c := claims{
		Room: g.Room, Name: g.Name, Publish: &g.CanPublish, Subscribe: &g.CanSubscribe, Data: &g.CanPublishData,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: key, Subject: g.Identity,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}

// Verify checks a token's signature and times and returns its grant.
func (ks Keys) Verify(tok string) (Grant, error) {
	var c claims
	_, err := jwt.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		secret, ok := ks[iss]
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownKey, iss)
		}
		return []byte(secret), nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownKey):
		return Grant{}, err
	case errors.Is(err, jwt.ErrTokenExpired):
		return Grant{}, fmt.Errorf("%w: %v", ErrExpired, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Grant{}, fmt.Errorf("%w: %v", ErrSignature, err)
	default:
		return Grant{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.Room == "" || c.Subject == "" {
		return Grant{}, fmt.Errorf("%w: no room or no identity (sub)", ErrMalformed)
	}
	allowed := func(b *bool) bool { return b == nil || *b }
	return Grant{Room: c.Room, Identity: c.Subject, Name: c.Name,
		CanPublish: allowed(c.Publish), CanSubscribe: allowed(c.Subscribe), CanPublishData: allowed(c.Data)}, nil
}
