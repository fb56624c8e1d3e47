package reconciler

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"bollard.dev/bollard/api"
	"bollard.dev/bollard/api/v1alpha1"
)

func sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// The receiver's authentication and routing, with a fake client holding the Releases (the e2e
// suite drives it through the real daemon and API server).
func TestReceiver(t *testing.T) {
	key := []byte("s3cret")
	releases := []v1alpha1.Release{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: "https://git.example/Shop/web.git", Ref: "main"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-ssh"}, Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: "git@git.example:shop/web"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-release"}, Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: "https://git.example/shop/web", Ref: "release"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "api"}, Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: "https://git.example/shop/api.git"}}},
	}
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithIndex(&v1alpha1.Release{}, indexSourceURL, sourceURL).WithLists(&v1alpha1.ReleaseList{Items: releases}).Build()
	github := []byte(`{"ref":"refs/heads/main","after":"abc","repository":{"clone_url":"https://git.example/shop/web.git","ssh_url":"git@git.example:shop/web.git"}}`)
	gitlab := []byte(`{"ref":"refs/heads/main","checkout_sha":"abc","project":{"git_http_url":"https://git.example/shop/web.git"}}`)
	for _, tc := range []struct {
		name      string
		headers   map[string]string
		body      []byte
		status    int
		triggered []string
		message   string
	}{
		{"github, signed", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(key, github)}, github, 202, []string{"shop/web", "shop/web-ssh"}, ""},
		{"github, signed with another key", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign([]byte("guess"), github)}, github, 401, nil, "does not match"},
		{"github, unsigned", map[string]string{"X-GitHub-Event": "push"}, github, 401, nil, "no signature or token header"},
		{"github, body changed after signing", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(key, github)}, bytes.Replace(github, []byte("main"), []byte("release"), 1), 401, nil, ""},
		{"gitea, signed", map[string]string{"X-Gitea-Event": "push", "X-GitHub-Event": "push", "X-Gitea-Signature": sign(key, github)}, github, 202, []string{"shop/web", "shop/web-ssh"}, ""},
		{"gitlab, token", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cret"}, gitlab, 202, []string{"shop/web", "shop/web-ssh"}, ""},
		{"gitlab, wrong token", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cre"}, gitlab, 401, nil, ""},
		{"unknown sender", map[string]string{"X-Hub-Signature-256": "sha256=" + sign(key, github)}, github, 400, nil, "not a GitHub, GitLab or Gitea event"},
		{"signed, not JSON", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(key, []byte("{"))}, []byte("{"), 400, nil, "not JSON"},
		{"signed, not a push", map[string]string{"X-GitHub-Event": "issues", "X-Hub-Signature-256": "sha256=" + sign(key, github)}, github, 400, nil, `event "issues" is not a push`},
		{"signed ping", map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + sign(key, []byte("{}"))}, []byte("{}"), 200, nil, "pong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			rc := &Receiver{Client: c, Log: logr.Discard(), Secret: func(context.Context) ([]byte, error) { return key, nil },
				Trigger: func(k types.NamespacedName, reason string) {
					if reason != TriggerPush {
						t.Errorf("reason %q", reason)
					}
					got = append(got, k.String())
				}}
			req := httptest.NewRequest(http.MethodPost, "/hooks/git", bytes.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			rc.ServeHTTP(w, req)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.message) {
				t.Errorf("status %d %q, want %d with %q", w.Code, w.Body.String(), tc.status, tc.message)
			}
			if strings.Join(got, ",") != strings.Join(tc.triggered, ",") {
				t.Errorf("triggered %v, want %v", got, tc.triggered)
			}
		})
	}
}

func TestNormalizeURL(t *testing.T) {
	same := [][]string{
		{"https://git.example/shop/web.git", "https://git.example/shop/web", "git@git.example:shop/web.git", "ssh://git@git.example:22/shop/web", "https://user:token@GIT.example/Shop/web/"},
		{"file:///srv/git/shop.git", "/srv/git/shop.git", "file:///srv/git/shop"},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if NormalizeURL(u) != NormalizeURL(group[0]) {
				t.Errorf("%s → %s, %s → %s: want equal", u, NormalizeURL(u), group[0], NormalizeURL(group[0]))
			}
		}
	}
	if NormalizeURL("https://git.example/shop/web") == NormalizeURL("https://git.example/shop/api") {
		t.Error("different repositories normalize alike")
	}
}

// FuzzParsePush: any payload is a Push or an error, never a panic; a Push always has a ref and a URL.
func FuzzParsePush(f *testing.F) {
	f.Add("github", "push", []byte(`{"ref":"refs/heads/main","repository":{"clone_url":"https://x/y.git"}}`))
	f.Add("gitlab", "Push Hook", []byte(`{"ref":"refs/tags/v1","project":{"git_ssh_url":"git@x:y.git"}}`))
	f.Add("gitea", "push", []byte(`{"ref":7}`))
	f.Add("github", "push", []byte(`[]`))
	f.Fuzz(func(t *testing.T, provider, event string, body []byte) {
		p, err := ParsePush(provider, event, body)
		if err == nil && (!strings.HasPrefix(p.Ref, "refs/") || len(p.URLs) == 0) {
			t.Errorf("accepted %+v from %q", p, body)
		}
		for _, u := range p.URLs {
			_ = NormalizeURL(u)
		}
	})
}

// countingBody counts what the receiver reads of a request body.
type countingBody struct {
	r    *bytes.Reader
	read int
}

func (b *countingBody) Read(p []byte) (int, error) { n, err := b.r.Read(p); b.read += n; return n, err }
func (b *countingBody) Close() error               { return nil }

// TestReceiverRefusesBeforeReading: a push without a signature, or with a wrong GitLab token, is
// refused without its body being read or the Secret being fetched for nothing beyond the first; a
// burst beyond maxInFlight is answered 503 with Retry-After, never queued.
func TestReceiverRefusesBeforeReading(t *testing.T) {
	secretReads := 0
	rc := &Receiver{Client: fake.NewClientBuilder().WithScheme(api.NewScheme()).WithIndex(&v1alpha1.Release{}, indexSourceURL, sourceURL).Build(), Log: logr.Discard(),
		Secret:  func(context.Context) ([]byte, error) { secretReads++; return []byte("s3cret"), nil },
		Trigger: func(types.NamespacedName, string) {}}
	for name, headers := range map[string]map[string]string{
		"github without a signature": {"X-GitHub-Event": "push"},
		"gitlab with a wrong token":  {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"},
		"gitlab without a token":     {"X-Gitlab-Event": "Push Hook"},
	} {
		body := &countingBody{r: bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20))}
		req := httptest.NewRequest(http.MethodPost, "/hooks/git", body)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized || body.read != 0 {
			t.Errorf("%s: status %d, %d body bytes read; want 401 unread", name, w.Code, body.read)
		}
	}
	if secretReads > 1 {
		t.Errorf("the Secret was read %d times for pushes refused on their headers", secretReads)
	}
	// The in-flight bound: a full receiver answers at once.
	for range maxInFlight {
		rc.inFlight <- struct{}{}
	}
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/hooks/git", strings.NewReader("{}"))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+sign([]byte("s3cret"), []byte("{}")))
	rc.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("beyond %d pushes in flight: status %d, Retry-After %q", maxInFlight, w.Code, w.Header().Get("Retry-After"))
	}
}

// TestReleaseReceiver: a Release with spec.receiver has its own endpoint, authenticated with the
// Secret it names: a push signed with that key reconciles it alone (not the other Release of the
// same repository); the daemon's shared key, or an endpoint of a Release without a receiver, gets
// nothing.
func TestReleaseReceiver(t *testing.T) {
	shared, own := []byte("shared"), []byte("team-key")
	releases := []v1alpha1.Release{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: "https://git.example/shop/web.git"},
			Receiver: &v1alpha1.ReleaseReceiver{SecretRef: corev1.LocalObjectReference{Name: "web-push"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-too"}, Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: "https://git.example/shop/web.git"}}},
	}
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithIndex(&v1alpha1.Release{}, indexSourceURL, sourceURL).WithLists(&v1alpha1.ReleaseList{Items: releases}).
		WithObjects(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-push"}, Data: map[string][]byte{"secret": own}}).Build()
	var got []string
	rc := &Receiver{Client: c, Log: logr.Discard(), Secret: func(context.Context) ([]byte, error) { return shared, nil },
		Trigger: func(k types.NamespacedName, _ string) { got = append(got, k.String()) }}
	mux := http.NewServeMux()
	mux.Handle("/hooks/git", rc)
	mux.Handle("/hooks/git/{namespace}/{name}", rc)
	body := []byte(`{"ref":"refs/heads/main","after":"abc","repository":{"clone_url":"https://git.example/shop/web.git"}}`)
	for _, tc := range []struct {
		name, path string
		key        []byte
		status     int
		triggered  string
	}{
		{"its own key", "/hooks/git/shop/web", own, 202, "shop/web"},
		{"the shared key at its endpoint", "/hooks/git/shop/web", shared, 401, ""},
		{"a Release without a receiver", "/hooks/git/shop/web-too", shared, 404, ""},
		{"the shared endpoint", "/hooks/git", shared, 202, "shop/web,shop/web-too"},
		{"its key at the shared endpoint", "/hooks/git", own, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			req := httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(body))
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature-256", "sha256="+sign(tc.key, body))
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != tc.status || strings.Join(got, ",") != tc.triggered {
				t.Errorf("status %d %q, triggered %v; want %d, %s", w.Code, w.Body.String(), got, tc.status, tc.triggered)
			}
		})
	}
}
