package play_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	androidpublisherv2 "google.golang.org/api/androidpublisher/v2"
	androidpublisher "google.golang.org/api/androidpublisher/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"bollard.dev/bollard/channel"
	"bollard.dev/bollard/channel/play"
)

// The fake refuses what the discovery document lacks; the real client must surface it as
// a googleapi.Error like Google's.
func TestUnknownAndUnimplementedCallsThroughTheRealClient(t *testing.T) {
	r := newRig(t)
	opts := []option.ClientOption{
		option.WithEndpoint(r.fake.URL + "/"),
		option.WithAuthCredentialsJSON(option.ServiceAccount, r.fake.ServiceAccountJSON()),
	}

	// The v2 client's purchases.products.get: a real generated method whose path
	// (/androidpublisher/v2/applications/…) the v3 discovery document does not have. The
	// v2 client's base path carries the version, so its endpoint does too.
	v2, err := androidpublisherv2.NewService(ctx(),
		option.WithEndpoint(r.fake.URL+"/androidpublisher/v2/applications/"),
		option.WithAuthCredentialsJSON(option.ServiceAccount, r.fake.ServiceAccountJSON()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v2.Purchases.Products.Get(pkg, "coins", "token").Context(ctx()).Do()
	assertGoogleError(t, err, http.StatusNotFound, "notFound")

	// A documented v3 method the fake does not implement.
	v3, err := androidpublisher.NewService(ctx(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v3.Reviews.List(pkg).Context(ctx()).Do()
	assertGoogleError(t, err, http.StatusNotImplemented, "notImplemented")

	var api []string
	for _, c := range r.fake.Calls() {
		if c.ID != "oauth2.token" {
			api = append(api, fmt.Sprintf("%d %s %s", c.Status, c.ID, c.Path))
		}
	}
	want := []string{
		"404  /androidpublisher/v2/applications/" + pkg + "/purchases/products/coins/tokens/token",
		"501 androidpublisher.reviews.list /androidpublisher/v3/applications/" + pkg + "/reviews",
	}
	if !reflect.DeepEqual(api, want) {
		t.Errorf("calls %q, want %q", api, want)
	}
}

func assertGoogleError(t *testing.T, err error, code int, reason string) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v is not a googleapi.Error", err)
	}
	if ge.Code != code || len(ge.Errors) != 1 || ge.Errors[0].Reason != reason || ge.Message == "" {
		t.Fatalf("googleapi.Error %+v, want %d %s", ge, code, reason)
	}
	return ge
}

func TestRevokedTokenIs401(t *testing.T) {
	r := newRig(t)
	ref, err := r.p.Submit(ctx(), r.artifact(42, nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	r.fake.RevokeTokens()
	_, err = r.p.SetPercent(ctx(), ref, 10)
	ge := assertGoogleError(t, err, http.StatusUnauthorized, "authError")
	if !strings.Contains(err.Error(), "edits.insert: ") {
		t.Errorf("error %q does not name the call", err)
	}
	if ge.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	if rel := r.release(42); *rel.UserFraction != 0.01 {
		t.Errorf("the refused call changed the track: %+v", rel)
	}
}

// A key the fake does not know is refused at the token endpoint; nothing reaches the API
// and the key appears in no error.
func TestForeignKeyIsRefusedAtTheTokenEndpoint(t *testing.T) {
	r := newRig(t)
	foreign := foreignKey(t, r.fake.ServiceAccountJSON())
	p, err := play.New(ctx(), play.Config{PackageName: pkg, Credentials: foreign, Endpoint: r.fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.Review(ctx(), channel.Ref{VersionCode: 42})
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("review with a foreign key: %v", err)
	}
	assertNoSecret(t, err.Error(), foreign)
	calls := r.fake.Calls()
	if len(calls) != 1 || calls[0].ID != "oauth2.token" || calls[0].Status != http.StatusBadRequest {
		t.Errorf("calls %+v", calls)
	}
}

func TestCredentialsStayOutOfErrors(t *testing.T) {
	r := newRig(t)
	sa := r.fake.ServiceAccountJSON()
	var fields map[string]string
	if err := json.Unmarshal(sa, &fields); err != nil {
		t.Fatal(err)
	}
	userType := strings.Replace(string(sa), `"service_account"`, `"authorized_user"`, 1)
	noEmail := strings.Replace(string(sa), fields["client_email"], "", 1)
	broken := string(sa[:len(sa)/2]) // cut inside the private key
	for _, tc := range []struct {
		name  string
		creds string
		err   string
	}{
		{"not JSON", broken, "not a JSON service-account key"},
		{"another credential type", userType, "not a service-account key"},
		{"no client_email", noEmail, "lacks client_email"},
		{"none", "", "no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := play.New(ctx(), play.Config{PackageName: pkg, Credentials: []byte(tc.creds), Endpoint: r.fake.URL})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			assertNoSecret(t, err.Error(), sa)
		})
	}
	if calls := r.fake.Calls(); len(calls) != 0 {
		t.Errorf("New sent %d calls", len(calls))
	}
}

func TestEndpointKeepsTheTokenOffPlainHTTP(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"https://androidpublisher.googleapis.com/", true},
		{r.fake.URL, true},
		{"http://localhost:8080", true},
		{"http://play.example.com/", false},
		{"ftp://127.0.0.1/", false},
		{"androidpublisher.googleapis.com", false},
	} {
		_, err := play.New(ctx(), play.Config{PackageName: pkg, Credentials: r.fake.ServiceAccountJSON(), Endpoint: tc.endpoint})
		if (err == nil) != tc.ok {
			t.Errorf("endpoint %q: %v", tc.endpoint, err)
		}
	}
	if calls := r.fake.Calls(); len(calls) != 0 {
		t.Errorf("New sent %d calls", len(calls))
	}
}

// assertNoSecret fails when msg carries any line of the key's PEM body.
func assertNoSecret(t *testing.T, msg string, saJSON []byte) {
	t.Helper()
	var sa struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(saJSON, &sa); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg, "PRIVATE KEY") {
		t.Fatalf("error carries a PEM header: %s", msg)
	}
	for _, line := range strings.Split(sa.PrivateKey, "\n") {
		if len(line) > 16 && strings.Contains(msg, line) {
			t.Fatalf("error carries key material: %s", msg)
		}
	}
}

// foreignKey is the service-account JSON with a key the fake never issued.
func foreignKey(t *testing.T, saJSON []byte) []byte {
	t.Helper()
	var fields map[string]string
	if err := json.Unmarshal(saJSON, &fields); err != nil {
		t.Fatal(err)
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	fields["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
