// Package source fetches a revision of a git repository with go-git: one bare mirror per
// repository URL on the daemon's disk, fetched on demand, and the files under a path at a commit
// read straight from the object store (no work tree).
package source

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Credentials for a repository (from the Release's Secret). All empty: anonymous.
type Credentials struct {
	Username, Password string // HTTPS; a token goes in Password
	SSHPrivateKey      []byte
	KnownHosts         []byte // SSH: required, unless the Git allows unchecked host keys
}

// key tells credentials apart without holding them.
func (c Credentials) key() string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(c.Username), []byte(c.Password), c.SSHPrivateKey, c.KnownHosts} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Commit is a fetched revision.
type Commit struct {
	Hash    string
	Author  string
	Message string
}

// Files are the files of a revision, keyed by their path in the repository ("/"-separated).
type Files map[string][]byte

// Under is the part of f under dir, keyed relative to dir.
func (f Files) Under(dir string) Files {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir == "" {
		return f
	}
	out := Files{}
	prefix := dir + "/"
	for name, data := range f {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			out[rest] = data
		}
	}
	return out
}

// DefaultMaxBytes bounds the files of one revision read into memory.
const DefaultMaxBytes = 64 << 20

// Git fetches repositories into Dir.
type Git struct {
	Dir string
	// Schemes are the URL schemes fetched (https and ssh when empty); http, git and file must be
	// allowed explicitly: plain http and git:// carry credentials and content in clear text, and
	// file:// reads the daemon's own disk — other tenants' mirrors included.
	Schemes []string
	// InsecureSSHHostKeys lets an SSH repository be fetched without knownHosts (its host key
	// unchecked). Off: knownHosts is required.
	InsecureSSHHostKeys bool
	// MaxBytes bounds the files of one revision (all of them: kustomize may load bases anywhere
	// in it); 0 is DefaultMaxBytes. A larger revision is refused, naming the bound.
	MaxBytes int64

	mu      sync.Mutex
	locks   map[string]*sync.Mutex
	fetched map[string]time.Time // when the last successful fetch of a URL with given credentials started
	trees   []tree               // the files of recent revisions, newest last
	// repos are the mirrors opened, by directory: their pack indexes are read once, not on
	// every Fetch (each read parsed every object name of the pack).
	repos map[string]*git.Repository
}

// tree is a revision's files, shared by every Release of the repository.
type tree struct {
	key   string // url@commit
	files Files
}

// treesKept bounds how many revisions' files are kept in memory.
const treesKept = 8

// DefaultSchemes are the URL schemes fetched unless the daemon allows more.
var DefaultSchemes = []string{"https", "ssh"}

// scheme is url's scheme; an scp-like address (git@host:path) is ssh.
func scheme(url string) string {
	if s, _, ok := strings.Cut(url, "://"); ok {
		return strings.ToLower(s)
	}
	if strings.Contains(url, "@") || strings.Contains(url, ":") {
		return "ssh"
	}
	return "file"
}

// allowed says whether url may be fetched, and why not.
func (g *Git) allowed(url string) error {
	schemes := g.Schemes
	if len(schemes) == 0 {
		schemes = DefaultSchemes
	}
	s := scheme(url)
	if slices.Contains(schemes, s) {
		return nil
	}
	return fmt.Errorf("git URL %s: scheme %s is not allowed (allowed: %s): %s", url, s, strings.Join(schemes, ", "), map[string]string{
		"http": "plain http carries credentials and content in clear text; use https",
		"git":  "git:// is unauthenticated and unencrypted; use https or ssh",
		"file": "a file:// repository is the daemon's own disk",
	}[s])
}

func (g *Git) lock(url string) func() {
	g.mu.Lock()
	if g.locks == nil {
		g.locks = map[string]*sync.Mutex{}
	}
	l, ok := g.locks[url]
	if !ok {
		l = &sync.Mutex{}
		g.locks[url] = l
	}
	g.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Fetch brings the mirror of url up to date, resolves ref (a branch, a tag or a commit hash;
// default main) and returns the commit and every file of the revision (dir must exist in it: a
// kustomization there may load bases from elsewhere in the repository).
//
// Its errors never carry what a URL's userinfo holds (a password, a token): they end up in
// status, Events and logs.
func (g *Git) Fetch(ctx context.Context, url, ref, dir string, creds Credentials) (_ Commit, _ Files, err error) {
	defer func() {
		if err != nil {
			err = redacted{err}
		}
	}()
	if ref == "" {
		ref = "main"
	}
	if err := g.allowed(url); err != nil {
		return Commit{}, nil, err
	}
	began := time.Now()
	unlock := g.lock(url)
	defer unlock()
	auth, err := authFor(url, creds, g.InsecureSSHHostKeys)
	if err != nil {
		return Commit{}, nil, err
	}
	repo, err := g.mirror(url)
	if err != nil {
		return Commit{}, nil, err
	}
	// Releases of one repository fetch once: a fetch with the same credentials that started
	// after this call began saw the remote as it is now (1,000 Releases of a monorepo pushed at
	// once make one or two fetches, not 1,000 in a row). One that only completed after it began
	// may have missed a push made just before it.
	fkey := url + "\x00" + creds.key()
	g.mu.Lock()
	fresh := g.fetched[fkey].After(began)
	g.mu.Unlock()
	// Shallow: the tips of branches and tags, depth 1, until a commit behind them is asked for
	// (a Release pinned to a hash, a rollback re-rendering an old revision); then the whole
	// history, once, and from then on.
	full := g.isFull(url)
	if !fresh {
		started := time.Now()
		if err := fetch(ctx, repo, auth, !full && !plumbing.IsHash(ref)); err != nil {
			return Commit{}, nil, fmt.Errorf("fetch %s: %w", url, err)
		}
		g.mu.Lock()
		if g.fetched == nil {
			g.fetched = map[string]time.Time{}
		}
		g.fetched[fkey] = started
		g.mu.Unlock()
	}
	hash, err := resolve(repo, ref)
	if err != nil && !full && plumbing.IsHash(ref) { // a missing branch or tag is not behind the boundary
		if repo, err = g.refetchFull(ctx, url, auth); err != nil {
			return Commit{}, nil, err
		}
		hash, err = resolve(repo, ref)
	}
	if err != nil {
		return Commit{}, nil, fmt.Errorf("%s: %w", url, err)
	}
	c, err := repo.CommitObject(hash)
	if err != nil {
		return Commit{}, nil, fmt.Errorf("%s: commit %s: %w", url, hash, err)
	}
	files, err := g.files(url, c, cmp.Or(g.MaxBytes, DefaultMaxBytes))
	if err == nil {
		err = hasDir(files, dir)
	}
	if err != nil {
		return Commit{}, nil, fmt.Errorf("%s at %s: %w", url, short(hash.String()), err)
	}
	return Commit{Hash: hash.String(), Author: c.Author.Name, Message: firstLine(c.Message)}, files, nil
}

// userinfo is a URL's user[:password]@ part.
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@`)

// Redact replaces what the URLs in s carry before their host (user:password, a token) by ***:
// https://ci:s3cret@git.example/shop → https://***@git.example/shop.
func Redact(s string) string { return userinfo.ReplaceAllString(s, "${1}***@") }

// redacted is an error whose text is redacted; errors.Is and As still see what it wraps.
type redacted struct{ err error }

func (r redacted) Error() string { return Redact(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }

// fetch brings the mirror's branches and tags up to date; shallow fetches their tips only.
func fetch(ctx context.Context, repo *git.Repository, auth transport.AuthMethod, shallow bool) error {
	opts := &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"},
		Auth:       auth,
		Force:      true,
		Prune:      true,
	}
	if shallow {
		opts.Depth = 1
	}
	rem, err := repo.Remote("origin")
	if err != nil {
		return err
	}
	capped := func() (transport.ProxyOptions, func(error) error) {
		if scheme(rem.Config().URLs[0]) == "ssh" {
			return cappedSSH()
		}
		return transport.ProxyOptions{}, func(err error) error { return err }
	}
	if upToDate(ctx, repo, rem, auth, capped) {
		return nil
	}
	var done func(error) error
	opts.ProxyOptions, done = capped()
	err = done(repo.FetchContext(ctx, opts))
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

// upToDate says whether the mirror holds every branch and tag the remote advertises, at the
// same hashes, and no branch or tag the remote no longer has: then there is nothing to fetch. The
// question costs one ref advertisement; go-git's fetch would also open each advertised commit in
// the mirror's packfiles (1,000 Releases of one monorepo ask again and again). Any doubt (an
// error, a ref it does not follow) answers false, and the fetch decides.
func upToDate(ctx context.Context, repo *git.Repository, rem *git.Remote, auth transport.AuthMethod, capped func() (transport.ProxyOptions, func(error) error)) bool {
	proxy, done := capped()
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth, ProxyOptions: proxy})
	if done(err) != nil {
		return false
	}
	want := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, ref := range refs {
		switch name := ref.Name(); {
		case ref.Type() != plumbing.HashReference:
		case name.IsBranch():
			want[plumbing.NewRemoteReferenceName("origin", name.Short())] = ref.Hash()
		case name.IsTag() && !strings.HasSuffix(name.String(), "^{}"):
			want[name] = ref.Hash()
		}
	}
	local, err := repo.References()
	if err != nil {
		return false
	}
	defer local.Close()
	same := 0
	stale := errors.New("stale")
	err = local.ForEach(func(ref *plumbing.Reference) error {
		name := ref.Name()
		if !name.IsTag() && !strings.HasPrefix(name.String(), "refs/remotes/origin/") {
			return nil
		}
		if h, ok := want[name]; !ok || ref.Type() != plumbing.HashReference || h != ref.Hash() {
			return stale
		}
		same++
		return nil
	})
	return err == nil && len(want) > 0 && same == len(want)
}

// fullMarker marks a mirror that holds the whole history.
const fullMarker = "bollard-full-history"

func (g *Git) isFull(url string) bool {
	_, err := os.Stat(filepath.Join(g.mirrorDir(url), fullMarker))
	return err == nil
}

// refetchFull replaces url's shallow mirror by one with the whole history.
func (g *Git) refetchFull(ctx context.Context, url string, auth transport.AuthMethod) (*git.Repository, error) {
	dir := g.mirrorDir(url)
	g.opened(dir, nil)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	repo, err := g.mirror(url)
	if err != nil {
		return nil, err
	}
	if err := fetch(ctx, repo, auth, false); err != nil {
		return nil, fmt.Errorf("fetch %s (whole history): %w", url, err)
	}
	return repo, os.WriteFile(filepath.Join(dir, fullMarker), nil, 0o600)
}

// mirrorDir is where url's mirror is kept.
func (g *Git) mirrorDir(url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(g.Dir, hex.EncodeToString(sum[:12]))
}

// Prune removes the mirrors of repositories no Release uses any more (keep lists the URLs in
// use), unless touched within grace (a Release created since keep was listed). It returns how
// many it removed.
func (g *Git) Prune(keep []string, grace time.Duration) (int, error) {
	used := map[string]bool{}
	for _, url := range keep {
		used[filepath.Base(g.mirrorDir(url))] = true
	}
	entries, err := os.ReadDir(g.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || used[e.Name()] {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < grace {
			continue
		}
		g.opened(filepath.Join(g.Dir, e.Name()), nil)
		if err := os.RemoveAll(filepath.Join(g.Dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// mirror opens (or creates) the bare mirror of url.
func (g *Git) mirror(url string) (*git.Repository, error) {
	dir := g.mirrorDir(url)
	// Touched on every use: Prune spares a mirror in use.
	now := time.Now()
	if os.Chtimes(dir, now, now) == nil {
		g.mu.Lock()
		repo := g.repos[dir]
		g.mu.Unlock()
		if repo != nil {
			return repo, nil
		}
	}
	repo, err := openMirror(dir)
	if err == nil {
		g.opened(dir, repo)
		return repo, nil
	}
	if err := os.MkdirAll(g.Dir, 0o700); err != nil {
		return nil, err
	}
	if _, err = git.PlainInit(dir, true); err == nil {
		repo, err = openMirror(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("init mirror of %s: %w", url, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
		return nil, err
	}
	g.opened(dir, repo)
	return repo, nil
}

// mirrorCacheBytes bounds the objects an open mirror keeps decoded (go-git's default is 96 MiB
// per repository; a revision's files are kept apart, in trees).
const mirrorCacheBytes = 4 << 20

// openMirror opens the bare mirror in dir.
func openMirror(dir string) (*git.Repository, error) {
	return git.Open(filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRU(mirrorCacheBytes)), nil)
}

// opened keeps the mirror in dir open (nil: forgets it, the directory removed).
func (g *Git) opened(dir string, repo *git.Repository) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.repos == nil {
		g.repos = map[string]*git.Repository{}
	}
	if repo == nil {
		delete(g.repos, dir)
		return
	}
	g.repos[dir] = repo
}

func resolve(repo *git.Repository, ref string) (plumbing.Hash, error) {
	for _, name := range []plumbing.ReferenceName{
		plumbing.NewRemoteReferenceName("origin", strings.TrimPrefix(ref, "refs/heads/")),
		plumbing.NewTagReferenceName(strings.TrimPrefix(ref, "refs/tags/")),
	} {
		if r, err := repo.Reference(name, true); err == nil {
			if tag, err := repo.TagObject(r.Hash()); err == nil { // annotated tag
				return tag.Target, nil
			}
			return r.Hash(), nil
		}
	}
	if plumbing.IsHash(ref) {
		h := plumbing.NewHash(ref)
		if _, err := repo.CommitObject(h); err == nil {
			return h, nil
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("ref %q is no branch, tag or commit of the repository", ref)
}

// files are c's files, read once per revision (the Releases of a monorepo share them; callers
// never change them).
func (g *Git) files(url string, c *object.Commit, maxBytes int64) (Files, error) {
	key := url + "@" + c.Hash.String()
	g.mu.Lock()
	for _, t := range g.trees {
		if t.key == key {
			g.mu.Unlock()
			return t.files, nil
		}
	}
	g.mu.Unlock()
	files, err := read(c, maxBytes)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.trees = append(g.trees, tree{key: key, files: files})
	if len(g.trees) > treesKept {
		g.trees = slices.Delete(g.trees, 0, len(g.trees)-treesKept)
	}
	g.mu.Unlock()
	return files, nil
}

// hasDir says why dir is not a directory of files ("" root always is).
func hasDir(files Files, dir string) error {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir == "" {
		return nil
	}
	prefix := dir + "/"
	for name := range files {
		if strings.HasPrefix(name, prefix) {
			return nil
		}
	}
	return fmt.Errorf("path %q: directory not found", dir)
}

// read returns the files of c's tree, at most maxBytes of them.
func read(c *object.Commit, maxBytes int64) (Files, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	files := Files{}
	var total int64
	err = tree.Files().ForEach(func(f *object.File) error {
		if !f.Mode.IsFile() {
			return nil
		}
		if total += f.Size; total > maxBytes {
			return fmt.Errorf("the revision's files are over %d MiB (at %s): too large to render", maxBytes>>20, f.Name)
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		files[f.Name] = b
		return nil
	})
	return files, err
}

func authFor(url string, c Credentials, insecureHostKeys bool) (transport.AuthMethod, error) {
	switch {
	case len(c.SSHPrivateKey) > 0:
		user := "git"
		if ep, err := transport.NewEndpoint(url); err == nil && ep.User != "" {
			user = ep.User
		}
		keys, err := gitssh.NewPublicKeys(user, c.SSHPrivateKey, "")
		if err != nil {
			return nil, fmt.Errorf("sshPrivateKey: %w", err)
		}
		if len(c.KnownHosts) == 0 && !insecureHostKeys {
			return nil, errors.New("knownHosts is required with sshPrivateKey: without it the server's host key cannot be checked (the daemon's --insecure-ssh-host-keys turns the check off)")
		}
		keys.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // replaced below when knownHosts is given
		if len(c.KnownHosts) > 0 {
			f, err := os.CreateTemp("", "known_hosts")
			if err != nil {
				return nil, err
			}
			defer os.Remove(f.Name())
			if _, err := f.Write(c.KnownHosts); err != nil {
				f.Close()
				return nil, err
			}
			f.Close()
			if keys.HostKeyCallback, err = knownhosts.New(f.Name()); err != nil {
				return nil, fmt.Errorf("knownHosts: %w", err)
			}
		}
		return keys, nil
	case c.Password != "":
		user := c.Username
		if user == "" {
			user = "bollard" // token auth: any non-empty user name
		}
		return &http.BasicAuth{Username: user, Password: c.Password}, nil
	}
	return nil, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func short(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}
