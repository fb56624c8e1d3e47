package playfake_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"testing"
	"time"

	"bollard.dev/bollard/channel/play/playfake"
)

func TestTokenEndpointFollowsTheServiceAccountGuide(t *testing.T) {
	f := startFake(t, playfake.Options{})
	sa, key := parseServiceAccount(t, f)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	with := func(k string, v any) map[string]any {
		c := claims(sa)
		c[k] = v
		return c
	}
	for _, tc := range []struct {
		name  string
		grant string
		jwt   string
		err   string
		desc  string
	}{
		{"valid", "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, key, claims(sa)), "", ""},
		{"another grant", "client_credentials", assertion(t, key, claims(sa)), "unsupported_grant_type", ""},
		{"signed by another key", "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, other, claims(sa)), "invalid_grant", "Invalid JWT Signature."},
		{"tampered claims", "urn:ietf:params:oauth:grant-type:jwt-bearer", tamper(assertion(t, key, claims(sa))), "invalid_grant", "Invalid JWT Signature."},
		{"another issuer", "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, key, with("iss", "someone@example.com")), "invalid_grant", "Invalid email or User ID"},
		{"another audience", "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, key, with("aud", "https://oauth2.googleapis.com/token")), "invalid_grant", ""},
		{"no scope", "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, key, with("scope", "")), "invalid_grant", "Empty or missing scope not allowed."},
		{"longer than an hour", "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, key, with("exp", now+7200)), "invalid_grant", ""},
		{"expired", "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, key, with("exp", now-10)), "invalid_grant", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := exchange(t, sa.TokenURI, tc.grant, tc.jwt)
			if tc.err == "" {
				if code != http.StatusOK || body["access_token"] == "" || body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) {
					t.Fatalf("%d %v", code, body)
				}
				return
			}
			if code != http.StatusBadRequest || body["error"] != tc.err {
				t.Fatalf("%d %v, want 400 %s", code, body, tc.err)
			}
			if tc.desc != "" && body["error_description"] != tc.desc {
				t.Errorf("error_description %q, want %q", body["error_description"], tc.desc)
			}
		})
	}
}

func tamper(jwt string) string {
	b := []byte(jwt)
	for i := range b {
		if b[i] == '.' {
			// flip a character of the claims segment
			if b[i+1] == 'A' {
				b[i+1] = 'B'
			} else {
				b[i+1] = 'A'
			}
			break
		}
	}
	return string(b)
}

func TestTokensNeedTheMethodsScopeAndExpire(t *testing.T) {
	clock := time.Now()
	f := startFake(t, playfake.Options{Now: func() time.Time { return clock }})
	sa, key := parseServiceAccount(t, f)

	c := claims(sa)
	c["scope"] = "https://www.googleapis.com/auth/cloud-platform"
	code, body := exchange(t, sa.TokenURI, "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, key, c))
	if code != http.StatusOK {
		t.Fatalf("token: %d %v", code, body)
	}
	wrongScope := &client{t: t, f: f, token: body["access_token"].(string)}
	r := wrongScope.call(http.MethodPost, editsPath(""), map[string]any{})
	if r.code != http.StatusForbidden || r.googleError(t).Error.Errors[0].Reason != "insufficientPermissions" {
		t.Fatalf("token without the androidpublisher scope: %d %s", r.code, r.body)
	}

	ok := newClient(t, f)
	must(t, ok.call(http.MethodPost, editsPath(""), map[string]any{}), "edits.insert")
	clock = clock.Add(61 * time.Minute)
	if r := ok.call(http.MethodPost, editsPath(""), map[string]any{}); r.code != http.StatusUnauthorized {
		t.Fatalf("token after its hour: %d %s", r.code, r.body)
	}
}

func TestRevokeTokens(t *testing.T) {
	f := startFake(t, playfake.Options{})
	c := newClient(t, f)
	must(t, c.call(http.MethodPost, editsPath(""), map[string]any{}), "edits.insert")
	f.RevokeTokens()
	if r := c.call(http.MethodPost, editsPath(""), map[string]any{}); r.code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d %s", r.code, r.body)
	}
}
