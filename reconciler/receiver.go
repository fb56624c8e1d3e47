package reconciler

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

// maxPayload bounds a push payload (GitHub caps theirs at 25 MB; pushes are far smaller).
const maxPayload = 5 << 20

// maxInFlight bounds the pushes handled at once; more are answered 503 with Retry-After.
const maxInFlight = 8

// Receiver is the git push endpoint: GitHub and Gitea (HMAC-SHA256 of the body) and GitLab (a
// token) push events for a watched ref reconcile the matching Releases at once. Anything not
// authenticated gets 401 and changes nothing.
type Receiver struct {
	// Client reads Releases (indexed by indexSourceURL: the daemon's cache) and their Secrets.
	Client client.Reader
	// Secret returns the shared secret (HMAC key, or GitLab's token).
	Secret  func(context.Context) ([]byte, error)
	Trigger func(types.NamespacedName, string)
	Log     logr.Logger

	inFlight chan struct{}
	once     sync.Once
	mu       sync.Mutex
	secrets  map[string]func(context.Context) ([]byte, error) // per-Release endpoints' Secrets, by namespace/name
}

// releaseEndpoint is the Release a push to /hooks/git/<namespace>/<name> is for, and its secret
// (nil, "" when the path names none; an error says why the endpoint does not exist).
func (rc *Receiver) releaseEndpoint(r *http.Request) (*types.NamespacedName, func(context.Context) ([]byte, error), error) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	if ns == "" && name == "" {
		return nil, nil, nil
	}
	key := types.NamespacedName{Namespace: ns, Name: name}
	var rel v1alpha1.Release
	if err := rc.Client.Get(r.Context(), key, &rel); err != nil || rel.Spec.Receiver == nil || rel.Spec.Receiver.SecretRef.Name == "" {
		return nil, nil, fmt.Errorf("no Release %s with spec.receiver", key)
	}
	ref := ns + "/" + rel.Spec.Receiver.SecretRef.Name
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.secrets[ref] == nil {
		if rc.secrets == nil {
			rc.secrets = map[string]func(context.Context) ([]byte, error){}
		}
		rc.secrets[ref] = secretReader(rc.Client, ref)
	}
	return &key, rc.secrets[ref], nil
}

// Push is what a push event says: which repository (under all its URLs) and which ref moved.
type Push struct {
	Provider string
	Ref      string // refs/heads/main, refs/tags/v1.2.3
	After    string
	URLs     []string
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a push event", http.StatusMethodNotAllowed)
		return
	}
	rc.once.Do(func() { rc.inFlight = make(chan struct{}, maxInFlight) })
	select {
	case rc.inFlight <- struct{}{}:
		defer func() { <-rc.inFlight }()
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many pushes at once", http.StatusServiceUnavailable)
		return
	}
	provider, event := providerOf(r.Header)
	if provider == "" {
		metricPushes.WithLabelValues("unknown", "malformed").Inc()
		http.Error(w, "not a GitHub, GitLab or Gitea event (no X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header)", http.StatusBadRequest)
		return
	}
	// Authenticate what can be before the body is read: a push without a signature or token is
	// refused unread, and GitLab's token is checked here already.
	if !signed(provider, r.Header) {
		metricPushes.WithLabelValues(provider, "unauthorized").Inc()
		http.Error(w, "no signature or token header", http.StatusUnauthorized)
		return
	}
	only, readSecret, err := rc.releaseEndpoint(r)
	if err != nil {
		metricPushes.WithLabelValues(provider, "unauthorized").Inc()
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if readSecret == nil {
		readSecret = rc.Secret
	}
	secret, err := readSecret(r.Context())
	if err != nil || len(secret) == 0 {
		rc.Log.Error(err, "receiver secret unavailable")
		http.Error(w, "receiver secret unavailable", http.StatusServiceUnavailable)
		return
	}
	if provider == "gitlab" && !authentic(provider, r.Header, nil, secret) {
		metricPushes.WithLabelValues(provider, "unauthorized").Inc()
		rc.Log.Info("push rejected: bad token", "provider", provider, "remote", r.RemoteAddr)
		http.Error(w, "signature or token does not match", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxPayload {
		metricPushes.WithLabelValues(provider, "malformed").Inc()
		http.Error(w, "payload over 5 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	if !authentic(provider, r.Header, body, secret) {
		metricPushes.WithLabelValues(provider, "unauthorized").Inc()
		rc.Log.Info("push rejected: bad signature or token", "provider", provider, "remote", r.RemoteAddr)
		http.Error(w, "signature or token does not match", http.StatusUnauthorized)
		return
	}
	if event == "ping" {
		writeJSON(w, http.StatusOK, map[string]any{"pong": true})
		return
	}
	push, err := ParsePush(provider, event, body)
	if err != nil {
		metricPushes.WithLabelValues(provider, "malformed").Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	triggered, err := rc.match(r.Context(), push, only)
	if err != nil {
		http.Error(w, "list Releases: "+err.Error(), http.StatusInternalServerError)
		return
	}
	outcome, status := "accepted", http.StatusAccepted
	if len(triggered) == 0 {
		outcome, status = "ignored", http.StatusOK
	}
	metricPushes.WithLabelValues(provider, outcome).Inc()
	rc.Log.Info("push", "provider", provider, "ref", push.Ref, "after", push.After, "triggered", triggered)
	writeJSON(w, status, map[string]any{"ref": push.Ref, "triggered": triggered})
}

// signed reports whether the request carries the provider's signature or token header at all.
func signed(provider string, h http.Header) bool {
	switch provider {
	case "github":
		return h.Get("X-Hub-Signature-256") != ""
	case "gitea":
		return h.Get("X-Gitea-Signature") != "" || h.Get("X-Hub-Signature-256") != ""
	case "gitlab":
		return h.Get("X-Gitlab-Token") != ""
	}
	return false
}

func providerOf(h http.Header) (provider, event string) {
	switch {
	case h.Get("X-Gitea-Event") != "": // Gitea also sends X-GitHub-Event: check it first
		return "gitea", h.Get("X-Gitea-Event")
	case h.Get("X-GitHub-Event") != "":
		return "github", h.Get("X-GitHub-Event")
	case h.Get("X-Gitlab-Event") != "":
		return "gitlab", h.Get("X-Gitlab-Event")
	}
	return "", ""
}

// authentic checks GitHub's X-Hub-Signature-256 (sha256=<hex HMAC>), Gitea's X-Gitea-Signature
// (<hex HMAC>) or GitLab's X-Gitlab-Token, in constant time.
func authentic(provider string, h http.Header, body, secret []byte) bool {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := mac.Sum(nil)
	var got string
	switch provider {
	case "github":
		sig, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256=")
		if !ok {
			return false
		}
		got = sig
	case "gitea":
		got = h.Get("X-Gitea-Signature")
	case "gitlab":
		token := h.Get("X-Gitlab-Token")
		return token != "" && subtle.ConstantTimeCompare([]byte(token), secret) == 1
	default:
		return false
	}
	sig, err := hex.DecodeString(got)
	return err == nil && hmac.Equal(sig, want)
}

// ParsePush reads a push event of provider. Other events are an error that says so.
func ParsePush(provider, event string, body []byte) (Push, error) {
	var p struct {
		Ref         string `json:"ref"`
		After       string `json:"after"`
		CheckoutSHA string `json:"checkout_sha"`
		Repository  struct {
			CloneURL string `json:"clone_url"`
			SSHURL   string `json:"ssh_url"`
			HTMLURL  string `json:"html_url"`
			URL      string `json:"url"`
			HTTPURL  string `json:"git_http_url"`
			SSHURL2  string `json:"git_ssh_url"`
		} `json:"repository"`
		Project struct {
			HTTPURL string `json:"git_http_url"`
			SSHURL  string `json:"git_ssh_url"`
			WebURL  string `json:"web_url"`
		} `json:"project"`
	}
	switch {
	case provider == "gitlab" && event != "Push Hook" && event != "Tag Push Hook":
		return Push{}, fmt.Errorf("gitlab event %q is not a push", event)
	case provider != "gitlab" && event != "push":
		return Push{}, fmt.Errorf("%s event %q is not a push", provider, event)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return Push{}, fmt.Errorf("push payload is not JSON: %w", err)
	}
	if !strings.HasPrefix(p.Ref, "refs/") {
		return Push{}, errors.New("push payload has no ref (refs/heads/… or refs/tags/…)")
	}
	push := Push{Provider: provider, Ref: p.Ref, After: p.After}
	if push.After == "" {
		push.After = p.CheckoutSHA
	}
	for _, u := range []string{p.Repository.CloneURL, p.Repository.SSHURL, p.Repository.HTMLURL, p.Repository.URL,
		p.Repository.HTTPURL, p.Repository.SSHURL2, p.Project.HTTPURL, p.Project.SSHURL, p.Project.WebURL} {
		if u != "" {
			push.URLs = append(push.URLs, u)
		}
	}
	if len(push.URLs) == 0 {
		return Push{}, errors.New("push payload names no repository URL")
	}
	return push, nil
}

// match triggers the Releases that watch the pushed repository and ref.
func (rc *Receiver) match(ctx context.Context, push Push, only *types.NamespacedName) ([]string, error) {
	triggered := []string{}
	seen := map[string]bool{}
	for _, u := range push.URLs {
		if u = NormalizeURL(u); seen[u] {
			continue
		}
		seen[u] = true
		// From the daemon's cache, by the index: a push costs no List of every Release from the
		// API server (3.5 MB with 1,000 of them). A Release the cache has not seen yet has not
		// been reconciled either: its first reconcile fetches what was pushed.
		var list v1alpha1.ReleaseList
		if err := rc.Client.List(ctx, &list, client.MatchingFields{indexSourceURL: u}); err != nil {
			return nil, err
		}
		for _, rel := range list.Items {
			key := types.NamespacedName{Namespace: rel.Namespace, Name: rel.Name}
			if !refMatches(rel.Spec.Source.Ref, push.Ref) || only != nil && key != *only {
				continue
			}
			rc.Trigger(key, TriggerPush)
			triggered = append(triggered, key.String())
		}
	}
	slices.Sort(triggered)
	return triggered, nil
}

// indexSourceURL indexes Releases by their repository's NormalizeURL.
const indexSourceURL = "bollard.dev/source-url"

func sourceURL(o client.Object) []string {
	if rel, ok := o.(*v1alpha1.Release); ok {
		return []string{NormalizeURL(rel.Spec.Source.URL)}
	}
	return nil
}

func refMatches(watched, pushed string) bool {
	if watched == "" {
		watched = "main"
	}
	return pushed == watched || pushed == "refs/heads/"+watched || pushed == "refs/tags/"+watched
}

// NormalizeURL reduces the forms of one repository's URL to one: host/path, without scheme,
// user, port of ssh, ".git" or trailing slash; scp-like git@host:org/repo included. Local paths
// (file://) keep their cleaned path.
func NormalizeURL(raw string) string {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		if at := strings.Index(s, "@"); at >= 0 && strings.Contains(s[at:], ":") { // git@host:org/repo
			s = "ssh://" + s[:at+1] + strings.Replace(s[at+1:], ":", "/", 1)
		} else if strings.HasPrefix(s, "/") {
			s = "file://" + s
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git"))
	}
	p := strings.TrimSuffix(path.Clean("/"+u.Path), "/")
	p = strings.TrimSuffix(p, ".git")
	if u.Scheme == "file" {
		return "file:" + p
	}
	return strings.ToLower(u.Hostname()) + strings.ToLower(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
