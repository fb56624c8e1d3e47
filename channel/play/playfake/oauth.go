package playfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The OAuth 2.0 service-account flow, as Google documents it at
// https://developers.google.com/identity/protocols/oauth2/service-account#httprest
// ("Preparing to make an authorized API call" → "HTTP/REST"): the client signs a JWT
// with the service account's private key (RS256) and POSTs it to the token URI with the
// JWT-bearer grant; Google answers an access token that API calls carry as
// "Authorization: Bearer <token>".

const (
	jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// tokenLifetime: Google's documented response carries "expires_in": 3599 — tokens last
	// an hour.
	tokenLifetime = time.Hour
	// tokenPath is where the fake serves its token endpoint; the service-account JSON the
	// fake hands out names it as token_uri.
	tokenPath = "/token"
	// serviceAccountEmail is the identity the fake's service account claims.
	serviceAccountEmail = "bollard-playfake@playfake.iam.gserviceaccount.com"
)

var (
	// Generating a 2048-bit RSA key is slow on a busy machine, so the process shares one;
	// every Fake still issues and checks its own tokens.
	keyOnce sync.Once
	key     *rsa.PrivateKey
	keyErr  error
)

func serviceAccountKey() (*rsa.PrivateKey, error) {
	keyOnce.Do(func() { key, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	return key, keyErr
}

type accessToken struct {
	expiry time.Time
	scopes []string
}

// ServiceAccountJSON is a service-account key file, in the format the Google Cloud
// console downloads, for the fake's service account: its token_uri is the fake's token
// endpoint, so a real client runs the real JWT exchange against the fake. It holds a
// private key: keep it out of logs like a real one.
func (f *Fake) ServiceAccountJSON() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(f.key)
	if err != nil {
		panic("playfake: encoding the generated key: " + err.Error())
	}
	b, err := json.MarshalIndent(map[string]string{
		"type":            "service_account",
		"project_id":      "playfake",
		"private_key_id":  f.keyID,
		"private_key":     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":    serviceAccountEmail,
		"client_id":       "100000000000000000001",
		"token_uri":       f.URL + tokenPath,
		"universe_domain": "googleapis.com",
	}, "", "  ")
	if err != nil {
		panic("playfake: encoding the service account: " + err.Error())
	}
	return b
}

// RevokeTokens forgets every access token the fake issued: a client's next API call gets
// 401, as after Google revokes a token.
func (f *Fake) RevokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]accessToken{}
}

// tokenError is the OAuth 2.0 error response (RFC 6749 §5.2) Google's token endpoint
// answers, with the error_description texts Google documents in the service-account
// guide's "Error codes" section.
func tokenError(w http.ResponseWriter, code, description string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": description})
}

func (f *Fake) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		tokenError(w, "invalid_request", "The token endpoint takes POST.")
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request", "The request body is not a form.")
		return
	}
	if g := r.PostForm.Get("grant_type"); g != jwtBearerGrant {
		tokenError(w, "unsupported_grant_type", "Invalid grant_type: "+g)
		return
	}
	claims, desc := f.verifyAssertion(r.PostForm.Get("assertion"))
	if desc != "" {
		tokenError(w, "invalid_grant", desc)
		return
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "internalError", "no randomness"))
		return
	}
	value := "playfake." + hex.EncodeToString(tok)
	f.mu.Lock()
	f.tokens[value] = accessToken{expiry: f.now().Add(tokenLifetime), scopes: strings.Fields(claims.Scope)}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": value,
		"expires_in":   int(tokenLifetime/time.Second) - 1,
		"token_type":   "Bearer",
	})
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Exp   int64  `json:"exp"`
	Iat   int64  `json:"iat"`
}

// verifyAssertion checks the JWT the way Google's guide specifies it: header alg RS256,
// signature by the service account's key, iss the service account's email, aud the token
// URI, a scope, and "exp … a maximum of 1 hour after the issued time". It returns the
// documented error_description of the first rule broken, "" when none is.
func (f *Fake) verifyAssertion(assertion string) (jwtClaims, string) {
	const badSignature = "Invalid JWT Signature."
	const badTime = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return jwtClaims{}, "Invalid JWT: the assertion is not header.claims.signature."
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil || header.Alg != "RS256" {
		return jwtClaims{}, badSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return jwtClaims{}, badSignature
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		return jwtClaims{}, badSignature
	}
	var c jwtClaims
	if err := decodeSegment(parts[1], &c); err != nil {
		return jwtClaims{}, "Invalid JWT: the claim set is not JSON."
	}
	if c.Iss != serviceAccountEmail {
		return jwtClaims{}, "Invalid email or User ID"
	}
	if c.Aud != f.URL+tokenPath {
		return jwtClaims{}, "Invalid JWT: aud is not the token URI."
	}
	if strings.TrimSpace(c.Scope) == "" {
		return jwtClaims{}, "Empty or missing scope not allowed."
	}
	now := f.now().Unix()
	// A minute of skew either way: the guide asks for "a reasonable timeframe".
	if c.Exp-c.Iat > int64(time.Hour/time.Second) || c.Exp < now || c.Iat > now+60 {
		return jwtClaims{}, badTime
	}
	return c, ""
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// authenticate requires a token this fake issued, unexpired, whose scopes include one the
// method lists in the discovery document's "scopes" — Google answers 401 for a missing or
// bad token and 403 for a token without the scope.
func (f *Fake) authenticate(r *http.Request, m *method) *apiError {
	value := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if value == "" || value == r.Header.Get("Authorization") {
		// The discovery document's global parameter access_token ("OAuth access token.").
		value = r.URL.Query().Get("access_token")
	}
	f.mu.Lock()
	tok, ok := f.tokens[value]
	f.mu.Unlock()
	if value == "" || !ok || !f.now().Before(tok.expiry) {
		e := errorf(http.StatusUnauthorized, "authError",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		e.header = http.Header{"Www-Authenticate": {`Bearer realm="https://accounts.google.com/", error="invalid_token"`}}
		return e
	}
	for _, s := range m.Scopes {
		if contains(tok.scopes, s) {
			return nil
		}
	}
	return errorf(http.StatusForbidden, "insufficientPermissions", "Request had insufficient authentication scopes.")
}
