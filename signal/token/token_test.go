package token

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestMintAndVerify(t *testing.T) {
	keys := Keys{"k1": secret}
	tok, err := keys.Mint("k1", Grant{Room: "demo", Identity: "alice", Name: "Alice", CanSubscribe: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g, err := keys.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Grant{Room: "demo", Identity: "alice", Name: "Alice", CanSubscribe: true}); g != want {
		t.Fatalf("grant %+v, want %+v", g, want)
	}
}

func TestVerifyRefuses(t *testing.T) {
	keys := Keys{"k1": secret}
	sign := func(method jwt.SigningMethod, key any, c jwt.Claims) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := func(exp time.Time) claims {
		return claims{Room: "demo", RegisteredClaims: jwt.RegisteredClaims{Issuer: "k1", Subject: "alice", ExpiresAt: jwt.NewNumericDate(exp)}}
	}
	good, _ := keys.Mint("k1", Grant{Room: "demo", Identity: "alice"}, time.Hour)
	for _, c := range []struct {
		name string
		tok  string
		want error
	}{
		{"expired", sign(jwt.SigningMethodHS256, []byte(secret), valid(time.Now().Add(-time.Minute))), ErrExpired},
		{"another secret", sign(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), valid(time.Now().Add(time.Hour))), ErrSignature},
		{"tampered", good[:len(good)-2] + "xx", ErrSignature},
		{"unknown key", sign(jwt.SigningMethodHS256, []byte(secret), claims{Room: "demo", RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "k2", Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}), ErrUnknownKey},
		{"no expiry", sign(jwt.SigningMethodHS256, []byte(secret), claims{Room: "demo", RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "k1", Subject: "alice"}}), ErrMalformed},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid(time.Now().Add(time.Hour))), ErrSignature},
		{"no room", sign(jwt.SigningMethodHS256, []byte(secret), claims{RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "k1", Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}), ErrMalformed},
		{"garbage", "not.a.token", ErrMalformed},
		{"empty", "", ErrMalformed},
	} {
		if _, err := keys.Verify(c.tok); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestParseKeys(t *testing.T) {
	keys, err := ParseKeys("k1:" + secret + ", k2:" + secret + "zz")
	if err != nil || len(keys) != 2 || keys["k2"] != secret+"zz" {
		t.Fatalf("%v %v", keys, err)
	}
	for _, bad := range []string{"k1", ":" + secret, "k1:short"} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}
