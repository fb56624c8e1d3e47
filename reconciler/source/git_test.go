package source

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestFetch against a real repository made by system git: branches, tags, commits, paths.
func TestFetch(t *testing.T) {
	dir := t.TempDir()
	bare, work := filepath.Join(dir, "r.git"), filepath.Join(dir, "w")
	run(t, dir, "init", "-q", "--bare", "--initial-branch=main", bare)
	run(t, dir, "clone", "-q", bare, work)
	write := func(name, content string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(work, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("deploy/a.yaml", "v1")
	write("other/b.yaml", "x")
	run(t, work, "add", "-A")
	run(t, work, "commit", "-qm", "first\n\nbody")
	first := run(t, work, "rev-parse", "HEAD")
	run(t, work, "tag", "-a", "v1", "-m", "v1")
	write("deploy/a.yaml", "v2")
	write("deploy/sub/c.yaml", "c")
	run(t, work, "commit", "-qam", "second")
	run(t, work, "add", "-A")
	run(t, work, "commit", "-qm", "third")
	head := run(t, work, "rev-parse", "HEAD")
	run(t, work, "push", "-q", "--tags", "origin", "main")

	g := &Git{Dir: t.TempDir(), Schemes: []string{"http", "file"}}
	ctx := context.Background()
	c, files, err := g.Fetch(ctx, "file://"+bare, "", "deploy", Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	// The whole revision (a kustomization may load ../base); Under is the path's part.
	under := files.Under("deploy")
	if c.Hash != head || c.Message != "third" || c.Author != "Dev" || string(under["a.yaml"]) != "v2" || string(under["sub/c.yaml"]) != "c" || len(under) != 2 || string(files["other/b.yaml"]) != "x" {
		t.Errorf("main: %+v %v", c, files)
	}
	c, files, err = g.Fetch(ctx, "file://"+bare, "v1", "/deploy/", Credentials{})
	if err != nil || c.Hash != first || c.Message != "first" || string(files.Under("/deploy/")["a.yaml"]) != "v1" {
		t.Errorf("tag v1: %+v %v %v", c, files, err)
	}
	small := &Git{Dir: t.TempDir(), Schemes: []string{"file"}, MaxBytes: 3}
	if _, _, err := small.Fetch(ctx, "file://"+bare, "main", "deploy", Credentials{}); err == nil || !strings.Contains(err.Error(), "too large to render") {
		t.Errorf("over MaxBytes: %v", err)
	}
	if c, _, err = g.Fetch(ctx, "file://"+bare, first, "", Credentials{}); err != nil || c.Hash != first {
		t.Errorf("by commit: %+v %v", c, err)
	}
	if _, _, err = g.Fetch(ctx, "file://"+bare, "nope", "", Credentials{}); err == nil || !strings.Contains(err.Error(), `ref "nope" is no branch, tag or commit`) {
		t.Errorf("unknown ref: %v", err)
	}
	if _, _, err = g.Fetch(ctx, "file://"+bare, "main", "missing", Credentials{}); err == nil || !strings.Contains(err.Error(), `path "missing"`) {
		t.Errorf("missing path: %v", err)
	}
	if _, _, err = g.Fetch(ctx, "file://"+filepath.Join(dir, "none.git"), "main", "", Credentials{}); err == nil || !strings.Contains(err.Error(), "fetch") {
		t.Errorf("missing repository: %v", err)
	}
}

// TestFetchErrorsRedacted: credentials in a repository URL never reach an error's text (status,
// Events and logs are made of it), while errors.Is still sees the cause.
func TestFetchErrorsRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"fetch https://ci:s3cret@git.example/shop.git: 401": "fetch https://***@git.example/shop.git: 401",
		"ssh://token@git.example:22/shop and http://a@b/c":  "ssh://***@git.example:22/shop and http://***@b/c",
		"git@git.example:shop/web (scp-like: no secret)":    "git@git.example:shop/web (scp-like: no secret)",
		"https://git.example/shop.git (nothing to redact)":  "https://git.example/shop.git (nothing to redact)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	g := &Git{Dir: t.TempDir(), Schemes: []string{"http", "file"}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, err := g.Fetch(ctx, "http://bollard:planted-s3cret@127.0.0.1:1/shop.git", "main", "", Credentials{})
	if err == nil || strings.Contains(err.Error(), "planted-s3cret") || !strings.Contains(err.Error(), "http://***@127.0.0.1:1/shop.git") {
		t.Errorf("err = %v", err)
	}
}

// TestFetchRefusesInsecureSources: by default only https and ssh are fetched — plain http,
// git:// and file:// (the daemon's own disk) are refused, naming the URL without its secret — and
// an SSH key without knownHosts is refused unless unchecked host keys are allowed.
func TestFetchRefusesInsecureSources(t *testing.T) {
	g := &Git{Dir: t.TempDir()}
	ctx := context.Background()
	for url, want := range map[string]string{
		"http://bollard:planted-s3cret@git.example/shop.git": "git URL http://***@git.example/shop.git: scheme http is not allowed (allowed: https, ssh): plain http",
		"git://git.example/shop.git":                         "scheme git is not allowed",
		"file:///var/lib/bollard/git/other-tenant.git":       "scheme file is not allowed (allowed: https, ssh): a file:// repository is the daemon's own disk",
		"/var/lib/bollard/git/other-tenant.git":              "scheme file is not allowed",
	} {
		_, _, err := g.Fetch(ctx, url, "main", "", Credentials{})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "planted-s3cret") {
			t.Errorf("%s: err = %v, want %q", url, err, want)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if _, err := authFor("ssh://git@git.example/shop.git", Credentials{SSHPrivateKey: pemKey}, false); err == nil || !strings.Contains(err.Error(), "knownHosts is required") {
		t.Errorf("SSH without knownHosts: %v", err)
	}
	if _, err := authFor("ssh://git@git.example/shop.git", Credentials{SSHPrivateKey: pemKey}, true); err != nil {
		t.Errorf("SSH without knownHosts, unchecked host keys allowed: %v", err)
	}
}

// TestPrune: mirrors of repositories no Release uses go; those in use, and those touched within
// the grace period (a Release created since), stay.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "shop.git")
	run(t, dir, "init", "-q", "--bare", "--initial-branch=main", bare)
	work := filepath.Join(dir, "work")
	run(t, dir, "clone", "-q", bare, work)
	if err := os.WriteFile(filepath.Join(work, "a.yaml"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, "add", "-A")
	run(t, work, "commit", "-qm", "a")
	run(t, work, "push", "-q", "origin", "main")
	g := &Git{Dir: filepath.Join(dir, "mirrors"), Schemes: []string{"file"}}
	ctx := context.Background()
	if _, _, err := g.Fetch(ctx, "file://"+bare, "main", "", Credentials{}); err != nil {
		t.Fatal(err)
	}
	if n, err := g.Prune(nil, time.Hour); err != nil || n != 0 {
		t.Errorf("within the grace period: removed %d, %v", n, err)
	}
	if n, err := g.Prune([]string{"file://" + bare}, 0); err != nil || n != 0 {
		t.Errorf("in use: removed %d, %v", n, err)
	}
	if n, err := g.Prune([]string{"https://example.com/other.git"}, 0); err != nil || n != 1 {
		t.Errorf("unused: removed %d, %v", n, err)
	}
	if entries, _ := os.ReadDir(g.Dir); len(entries) != 0 {
		t.Errorf("left %d mirrors", len(entries))
	}
	// A later fetch makes it again.
	if _, _, err := g.Fetch(ctx, "file://"+bare, "main", "", Credentials{}); err != nil {
		t.Fatal(err)
	}
}

// TestShallowMirror: a branch is fetched shallow (the tip only: an older commit is not in the
// mirror), a commit behind it asked for by hash brings the whole history once, and the mirror
// keeps working incrementally after.
func TestShallowMirror(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "shop.git")
	run(t, dir, "init", "-q", "--bare", "--initial-branch=main", bare)
	work := filepath.Join(dir, "work")
	run(t, dir, "clone", "-q", bare, work)
	var commits []string
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(work, "a.yaml"), []byte{byte('a' + i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, work, "add", "-A")
		run(t, work, "commit", "-qm", "c")
		commits = append(commits, strings.TrimSpace(run(t, work, "rev-parse", "HEAD")))
	}
	run(t, work, "push", "-q", "origin", "main")
	g := &Git{Dir: filepath.Join(dir, "mirrors"), Schemes: []string{"file"}}
	ctx := context.Background()
	url := "file://" + bare
	c, files, err := g.Fetch(ctx, url, "main", "", Credentials{})
	if err != nil || c.Hash != commits[2] || string(files["a.yaml"]) != "c" {
		t.Fatalf("main: %+v %q %v", c, files["a.yaml"], err)
	}
	if _, err := os.Stat(filepath.Join(g.mirrorDir(url), "shallow")); err != nil {
		t.Errorf("the mirror is not shallow: %v", err)
	}
	if g.isFull(url) {
		t.Error("marked full after a branch fetch")
	}
	c, files, err = g.Fetch(ctx, url, commits[0], "", Credentials{})
	if err != nil || c.Hash != commits[0] || string(files["a.yaml"]) != "a" {
		t.Fatalf("an older commit by hash: %+v %q %v", c, files["a.yaml"], err)
	}
	if !g.isFull(url) {
		t.Error("not marked full after the whole history was fetched")
	}
	if err := os.WriteFile(filepath.Join(work, "a.yaml"), []byte("d"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, "commit", "-qam", "d")
	run(t, work, "push", "-q", "origin", "main")
	if _, files, err = g.Fetch(ctx, url, "main", "", Credentials{}); err != nil || string(files["a.yaml"]) != "d" {
		t.Errorf("main after: %q %v", files["a.yaml"], err)
	}
	if _, _, err := g.Fetch(ctx, url, "nope", "", Credentials{}); err == nil {
		t.Error("a missing branch resolved")
	}
}

// TestFetchSizeCap: a git server over HTTP that sends more than the cap in one response is cut
// off, and the error says so.
func TestFetchSizeCap(t *testing.T) {
	defer maxFetchBytes.Store(maxFetchBytes.Load())
	maxFetchBytes.Store(64 << 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		pkt := func(s string) { fmt.Fprintf(w, "%04x%s", len(s)+4, s) }
		pkt("# service=git-upload-pack\n")
		fmt.Fprint(w, "0000")
		pkt(fmt.Sprintf("%040x HEAD\x00side-band-64k ofs-delta\n", 1))
		for i := range 20000 { // ~1.2 MB of advertised refs
			pkt(fmt.Sprintf("%040x refs/heads/b%05d\n", i+1, i))
		}
		fmt.Fprint(w, "0000")
	}))
	defer srv.Close()
	g := &Git{Dir: t.TempDir(), Schemes: []string{"http"}}
	_, _, err := g.Fetch(context.Background(), srv.URL+"/big.git", "main", "", Credentials{})
	if err == nil || !strings.Contains(err.Error(), "too large to fetch") {
		t.Errorf("a response over the cap: %v", err)
	}
}

// TestUpToDate: a mirror that holds every branch and tag the remote has, at the same commits,
// needs no fetch; a new commit, a new or moved tag, or a branch deleted on the remote does.
func TestUpToDate(t *testing.T) {
	dir := t.TempDir()
	bare, work := filepath.Join(dir, "r.git"), filepath.Join(dir, "w")
	run(t, dir, "init", "-q", "--bare", "--initial-branch=main", bare)
	run(t, dir, "clone", "-q", bare, work)
	commit := func(msg string) {
		if err := os.WriteFile(filepath.Join(work, "a.yaml"), []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, work, "add", "-A")
		run(t, work, "commit", "-qm", msg)
	}
	commit("one")
	run(t, work, "push", "-q", "origin", "main")
	run(t, work, "push", "-q", "origin", "main:feature")

	g := &Git{Dir: t.TempDir(), Schemes: []string{"file"}}
	ctx := context.Background()
	url := "file://" + bare
	repo, err := g.mirror(url)
	if err != nil {
		t.Fatal(err)
	}
	rem, err := repo.Remote("origin")
	if err != nil {
		t.Fatal(err)
	}
	plain := func() (transport.ProxyOptions, func(error) error) {
		return transport.ProxyOptions{}, func(err error) error { return err }
	}
	if upToDate(ctx, repo, rem, nil, plain) {
		t.Fatal("an empty mirror is up to date")
	}
	step := func(what string, change func(), want bool) {
		t.Helper()
		change()
		if got := upToDate(ctx, repo, rem, nil, plain); got != want {
			t.Fatalf("%s: up to date %v, want %v", what, got, want)
		}
		if err := fetch(ctx, repo, nil, true); err != nil {
			t.Fatal(err)
		}
		if !upToDate(ctx, repo, rem, nil, plain) {
			t.Fatalf("%s: not up to date right after a fetch", what)
		}
	}
	step("first fetch", func() {}, false)
	step("nothing new", func() {}, true)
	step("a new commit", func() { commit("two"); run(t, work, "push", "-q", "origin", "main") }, false)
	step("a new tag", func() { run(t, work, "tag", "-a", "v1", "-m", "v1"); run(t, work, "push", "-q", "origin", "v1") }, false)
	step("a moved tag", func() {
		commit("three")
		run(t, work, "tag", "-f", "-a", "v1", "-m", "v1 again")
		run(t, work, "push", "-q", "-f", "origin", "v1")
	}, false)
	step("a deleted branch", func() { run(t, work, "push", "-q", "origin", ":feature") }, false)
	if _, _, err := g.Fetch(ctx, url, "v1", "", Credentials{}); err != nil {
		t.Fatal(err)
	}
}
