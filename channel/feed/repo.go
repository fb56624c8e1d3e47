// Package feed is bollard's desktop update feed: a TUF repository (go-tuf v2) of an
// application's versions per platform, with a pointer per channel (stable, beta) that names the
// version offered and the share of installations it is offered to. A rollout step is a new
// pointer; halting sets the share to 0; rolling back points at an earlier version. Every change is
// signed metadata (targets, snapshot, timestamp), so a client trusts no file, mirror or replayed
// answer the keys did not sign. Client (client.go) is the installed side.
package feed

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The four top-level TUF roles, each with a key of its own.
var roles = []string{"root", "targets", "snapshot", "timestamp"}

// Expiry of each role's metadata from its last signing: the timestamp is re-signed on every
// change (a client refuses metadata older than that, so a frozen mirror shows).
var expiry = map[string]time.Duration{"root": 365 * 24 * time.Hour, "targets": 90 * 24 * time.Hour, "snapshot": 90 * 24 * time.Hour, "timestamp": 24 * time.Hour}

// Pointer is what a channel offers, as the signed targets metadata holds it (the custom field of
// the channel's pointer target).
type Pointer struct {
	// Version offered and its target (app/PLATFORM/NAME-VERSION/FILE).
	Version string `json:"version"`
	Target  string `json:"target"`
	// Percent of installations (0–100) the version is offered to, by a deterministic cohort.
	Percent int `json:"rolloutPercent"`
	// Halted: offered to nobody new (the red button); installations that updated keep it.
	Halted bool `json:"halted"`
	// Previous is the version the channel offered before this one (what a rollback returns to),
	// and PreviousTarget its target.
	Previous       string `json:"previous,omitempty"`
	PreviousTarget string `json:"previousTarget,omitempty"`
	// Withdrawn is the version a rollback took back: installations on it are offered Version.
	Withdrawn string `json:"withdrawn,omitempty"`
	// Deltas are patches to Target from earlier versions (zstd --patch-from format).
	Deltas []Delta `json:"deltas,omitempty"`
}

// Delta is a patch target from an earlier version's file to the pointer's target.
type Delta struct {
	From   string `json:"from"`
	Target string `json:"target"`
}

// Handler serves the feed's metadata under /metadata/ and its targets under /targets/ — and
// nothing else of DIR (never its keys).
func Handler(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metadata/", http.StripPrefix("/metadata/", http.FileServer(http.Dir(filepath.Join(dir, "metadata")))))
	mux.Handle("/targets/", http.StripPrefix("/targets/", http.FileServer(http.Dir(filepath.Join(dir, "targets")))))
	return mux
}

// Repo is a feed on disk: DIR/keys (the signing keys, 0600), DIR/metadata (what is served under
// /metadata/) and DIR/targets (under /targets/, named SHA256.NAME as consistent snapshots want).
type Repo struct {
	Dir  string
	Now  func() time.Time
	keys map[string]ed25519.PrivateKey
}

var name = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// lock serialises the feed's writers (two publishes, a publish and a rollout step): each reads
// the newest metadata and writes the next version, so one at a time.
func (r *Repo) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(r.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// Init creates a feed in dir: a key per role and version 1 of each role's metadata, no targets.
func Init(dir string) (*Repo, error) {
	if _, err := os.Stat(filepath.Join(dir, "metadata", "1.root.json")); err == nil {
		return nil, fmt.Errorf("%s holds a feed already", dir)
	}
	for _, d := range []string{"keys", "metadata", "targets"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "keys"), 0o700); err != nil {
		return nil, err
	}
	r := &Repo{Dir: dir, keys: map[string]ed25519.PrivateKey{}}
	root := metadata.Root(r.expires("root"))
	root.Signed.ConsistentSnapshot = true
	for _, role := range roles {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := writeKey(filepath.Join(dir, "keys", role+".pem"), key); err != nil {
			return nil, err
		}
		r.keys[role] = key
		pub, err := metadata.KeyFromPublicKey(key.Public())
		if err != nil {
			return nil, err
		}
		if err := root.Signed.AddKey(pub, role); err != nil {
			return nil, err
		}
	}
	if err := r.write(root, "root", "1.root.json"); err != nil {
		return nil, err
	}
	targets := metadata.Targets(r.expires("targets"))
	return r, r.commit(targets, 0)
}

// Open reads a feed made by Init.
func Open(dir string) (*Repo, error) {
	r := &Repo{Dir: dir, keys: map[string]ed25519.PrivateKey{}}
	for _, role := range roles {
		if err := r.finishRotation(role); err != nil {
			return nil, err
		}
		key, err := readKey(filepath.Join(dir, "keys", role+".pem"))
		if err != nil {
			return nil, fmt.Errorf("feed %s: %w (made by bollard feed init?)", dir, err)
		}
		r.keys[role] = key
	}
	return r, nil
}

// finishRotation settles a key rotation a crash interrupted: a keys/ROLE.next.pem the newest
// root names takes the old key's place; one it does not name (the root was never written) goes.
func (r *Repo) finishRotation(role string) error {
	path := filepath.Join(r.Dir, "keys", role+".next.pem")
	key, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("feed %s: %w", r.Dir, err)
	}
	root, err := r.root()
	if err != nil {
		return err
	}
	pub, err := metadata.KeyFromPublicKey(key.Public())
	if err != nil {
		return err
	}
	id, err := pub.ID()
	if err != nil {
		return err
	}
	if slices.Contains(root.Signed.Roles[role].KeyIDs, id) {
		return os.Rename(path, filepath.Join(r.Dir, "keys", role+".pem"))
	}
	return os.Remove(path)
}

func readKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s is not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s is not an ed25519 key", path)
	}
	return ed, nil
}

// Publish adds version of the application for platform (its files as targets
// app/PLATFORM/VERSION/FILE) and points channel at it for percent of installations.
func (r *Repo) Publish(channel, platform, version string, percent int, files ...string) (Pointer, error) {
	for _, v := range []string{channel, platform, version} {
		if !name.MatchString(v) {
			return Pointer{}, fmt.Errorf("%q: want letters, digits and . _ + -", v)
		}
	}
	if version == "channels" {
		return Pointer{}, errors.New(`"channels" is reserved (the channel pointers live there)`)
	}
	if len(files) == 0 {
		return Pointer{}, errors.New("no file to publish")
	}
	unlock, err := r.lock()
	if err != nil {
		return Pointer{}, err
	}
	defer unlock()
	targets, err := r.targets()
	if err != nil {
		return Pointer{}, err
	}
	var first string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return Pointer{}, err
		}
		path := fmt.Sprintf("app/%s/%s/%s", platform, version, filepath.Base(f))
		tf, err := metadata.TargetFile().FromBytes(path, data, "sha256")
		if err != nil {
			return Pointer{}, err
		}
		if old, ok := targets.Signed.Targets[path]; ok && (old.Length != tf.Length || old.Hashes["sha256"].String() != tf.Hashes["sha256"].String()) {
			return Pointer{}, fmt.Errorf("%s is published already with other content: a version is never changed", path)
		}
		targets.Signed.Targets[path] = tf
		if err := r.store(path, tf, data); err != nil {
			return Pointer{}, err
		}
		if first == "" {
			first = path
		}
	}
	prev, _ := pointerOf(targets, channel, platform)
	p := Pointer{Version: version, Target: first, Percent: percent, Previous: prev.Version, PreviousTarget: prev.Target}
	if prev.Version == version {
		p.Previous, p.PreviousTarget, p.Deltas = prev.Previous, prev.PreviousTarget, prev.Deltas
	} else if prev.Version != "" {
		// A delta from the version the channel offered before: installations on it download
		// the difference, not the whole file.
		d, err := r.delta(targets, prev.Target, first, prev.Version)
		if err != nil {
			return Pointer{}, err
		}
		p.Deltas = []Delta{d}
	}
	return p, r.point(targets, channel, platform, p)
}

// delta adds the patch from the target from (of version fromVersion) to the target to.
func (r *Repo) delta(targets *metadata.Metadata[metadata.TargetsType], from, to, fromVersion string) (Delta, error) {
	read := func(path string) ([]byte, error) {
		tf := targets.Signed.Targets[path]
		if tf == nil {
			return nil, fmt.Errorf("%s is not in the feed", path)
		}
		return os.ReadFile(filepath.Join(r.Dir, "targets", filepath.Dir(path), tf.Hashes["sha256"].String()+"."+filepath.Base(path)))
	}
	old, err := read(from)
	if err != nil {
		return Delta{}, err
	}
	cur, err := read(to)
	if err != nil {
		return Delta{}, err
	}
	patch, err := MakeDelta(old, cur)
	if err != nil {
		return Delta{}, err
	}
	path := to + ".from-" + fromVersion + ".zst"
	tf, err := metadata.TargetFile().FromBytes(path, patch, "sha256")
	if err != nil {
		return Delta{}, err
	}
	targets.Signed.Targets[path] = tf
	return Delta{From: fromVersion, Target: path}, r.store(path, tf, patch)
}

// SetPercent moves channel's rollout to percent (a step), lifting a halt.
func (r *Repo) SetPercent(channel, platform string, percent int) (Pointer, error) {
	return r.SetPercentOf(channel, platform, "", percent)
}

// SetPercentOf is SetPercent only while channel still offers version ("" any): a rollout never
// moves a version someone published, halted or rolled back meanwhile.
func (r *Repo) SetPercentOf(channel, platform, version string, percent int) (Pointer, error) {
	return r.change(channel, platform, func(p *Pointer, _ *metadata.Metadata[metadata.TargetsType]) error {
		if version != "" && (p.Version != version || p.Withdrawn != "") {
			return fmt.Errorf("channel %s (%s) offers %s now, not %s: it changed under the rollout", channel, platform, p.Version, version)
		}
		p.Percent, p.Halted = percent, false
		return nil
	})
}

// MoveOf is SetPercentOf for a rollout's next step: it also refuses a halted channel (only a
// person's resume lifts a halt, never a step).
func (r *Repo) MoveOf(channel, platform, version string, percent int) (Pointer, error) {
	return r.change(channel, platform, func(p *Pointer, _ *metadata.Metadata[metadata.TargetsType]) error {
		switch {
		case p.Version != version || p.Withdrawn != "":
			return fmt.Errorf("channel %s (%s) offers %s now, not %s: it changed under the rollout", channel, platform, p.Version, version)
		case p.Halted:
			return fmt.Errorf("channel %s (%s) is halted at %d%% of %s: only a resume lifts it", channel, platform, p.Percent, version)
		}
		p.Percent = percent
		return nil
	})
}

// HaltOf halts channel only while it offers version (checked under the feed's lock): a halt of
// one version never stops another published meanwhile.
func (r *Repo) HaltOf(channel, platform, version string) (Pointer, error) {
	return r.change(channel, platform, func(p *Pointer, _ *metadata.Metadata[metadata.TargetsType]) error {
		if p.Version != version || p.Withdrawn != "" {
			return fmt.Errorf("channel %s (%s) offers %s, not %s: nothing of %s to halt", channel, platform, p.Version, version, version)
		}
		p.Halted = true
		return nil
	})
}

// RollbackOf is Rollback only while channel offers version.
func (r *Repo) RollbackOf(channel, platform, version string) (Pointer, error) {
	return r.change(channel, platform, func(p *Pointer, targets *metadata.Metadata[metadata.TargetsType]) error {
		if p.Version != version {
			return fmt.Errorf("channel %s (%s) offers %s now, not %s: not rolled back", channel, platform, p.Version, version)
		}
		return rollback(channel, platform, p, targets)
	})
}

// Halt offers channel's version to nobody new: the red button. Installations that updated keep
// it (a desktop feed can also roll back: Rollback).
func (r *Repo) Halt(channel, platform string) (Pointer, error) {
	return r.change(channel, platform, func(p *Pointer, _ *metadata.Metadata[metadata.TargetsType]) error {
		p.Halted = true
		return nil
	})
}

// Rollback points channel back at the version it offered before, to everyone: installations on
// the halted version are offered the earlier one (a downgrade).
func (r *Repo) Rollback(channel, platform string) (Pointer, error) {
	return r.change(channel, platform, func(p *Pointer, targets *metadata.Metadata[metadata.TargetsType]) error {
		return rollback(channel, platform, p, targets)
	})
}

func rollback(channel, platform string, p *Pointer, targets *metadata.Metadata[metadata.TargetsType]) error {
	if p.Previous == "" || p.Withdrawn != "" {
		return fmt.Errorf("channel %s (%s) has no earlier version to return to from %s", channel, platform, p.Version)
	}
	if targets.Signed.Targets[p.PreviousTarget] == nil {
		return fmt.Errorf("version %s of %s is not in the feed", p.Previous, platform)
	}
	*p = Pointer{Version: p.Previous, Target: p.PreviousTarget, Percent: 100, Withdrawn: p.Version}
	return nil
}

// RootRenewal is how long before its expiry Refresh signs a new version of the root.
const RootRenewal = 30 * 24 * time.Hour

// Refresh signs the feed's metadata again with fresh expiries, changing nothing it says: the
// timestamp expires a day after its signing, so a feed with no change must be refreshed (bollard
// feed serve does it hourly when less than half a day is left). A root with less than RootRenewal
// left is renewed too: a new version, the same keys, signed by the root key.
func (r *Repo) Refresh() error {
	unlock, err := r.lock()
	if err != nil {
		return err
	}
	defer unlock()
	root, err := r.root()
	if err != nil {
		return err
	}
	if root.Signed.Expires.Sub(r.now()) < RootRenewal {
		return r.rotate(root, nil)
	}
	targets, err := r.targets()
	if err != nil {
		return err
	}
	return r.commit(targets, targets.Signed.Version)
}

// RotateKeys gives each of roles (root, targets, snapshot, timestamp) a new key: a new version of
// the root names them, signed by the root key it replaces and — when the root's key is rotated —
// by the new one too, so an installation that trusts any earlier root walks the chain to it (TUF's
// root rotation); then the targets, snapshot and timestamp are signed again. Metadata signed with
// a retired key is refused by clients from then on. No roles: the root is renewed (a new
// version with a fresh expiry, the same keys). It returns the new root's version.
func (r *Repo) RotateKeys(roles ...string) (int64, error) {
	for _, role := range roles {
		if _, ok := expiry[role]; !ok {
			return 0, fmt.Errorf("rotate %q: a feed's roles are root, targets, snapshot and timestamp", role)
		}
	}
	unlock, err := r.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	root, err := r.root()
	if err != nil {
		return 0, err
	}
	if err := r.rotate(root, roles); err != nil {
		return 0, err
	}
	return root.Signed.Version, nil
}

// rotate writes root as its next version with new keys for roles and commits the targets again.
// Crash-safe: the new keys are written beside the old ones (keys/ROLE.next.pem) before the root
// that names them, and take the old ones' place after it (Open finishes what a crash left).
func (r *Repo) rotate(root *metadata.Metadata[metadata.RootType], roles []string) error {
	oldRoot := r.keys["root"]
	next := map[string]ed25519.PrivateKey{}
	for _, role := range roles {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		if err := writeKey(filepath.Join(r.Dir, "keys", role+".next.pem"), key); err != nil {
			return err
		}
		next[role] = key
		for _, id := range root.Signed.Roles[role].KeyIDs {
			if err := root.Signed.RevokeKey(id, role); err != nil {
				return err
			}
		}
		pub, err := metadata.KeyFromPublicKey(key.Public())
		if err != nil {
			return err
		}
		if err := root.Signed.AddKey(pub, role); err != nil {
			return err
		}
	}
	root.Signed.Version++
	root.Signed.Expires = r.expires("root")
	keys := []ed25519.PrivateKey{oldRoot}
	if k, ok := next["root"]; ok {
		keys = append(keys, k)
	}
	if err := sign(root, keys...); err != nil {
		return err
	}
	if err := root.ToFile(r.meta(fmt.Sprintf("%d.root.json", root.Signed.Version)), true); err != nil {
		return err
	}
	for role, key := range next {
		if err := os.Rename(filepath.Join(r.Dir, "keys", role+".next.pem"), filepath.Join(r.Dir, "keys", role+".pem")); err != nil {
			return err
		}
		r.keys[role] = key
	}
	targets, err := r.targets()
	if err != nil {
		return err
	}
	return r.commit(targets, targets.Signed.Version)
}

// root reads the feed's newest root (N.root.json with the highest N).
func (r *Repo) root() (*metadata.Metadata[metadata.RootType], error) {
	var newest *metadata.Metadata[metadata.RootType]
	for v := int64(1); ; v++ {
		m, err := metadata.Root().FromFile(r.meta(fmt.Sprintf("%d.root.json", v)))
		if errors.Is(err, fs.ErrNotExist) && newest != nil {
			return newest, nil
		}
		if err != nil {
			return nil, fmt.Errorf("feed %s: root version %d: %w", r.Dir, v, err)
		}
		newest = m
	}
}

// RootExpires is when the feed's newest root expires (Refresh renews it RootRenewal before).
func (r *Repo) RootExpires() (time.Time, int64, error) {
	root, err := r.root()
	if err != nil {
		return time.Time{}, 0, err
	}
	return root.Signed.Expires, root.Signed.Version, nil
}

// Expires is when the feed's timestamp expires: clients refuse the feed after it.
func (r *Repo) Expires() (time.Time, error) {
	data, err := os.ReadFile(r.meta("timestamp.json"))
	if err != nil {
		return time.Time{}, err
	}
	ts, err := metadata.Timestamp().FromBytes(data)
	if err != nil {
		return time.Time{}, err
	}
	return ts.Signed.Expires, nil
}

// Pointer is what channel offers on platform now.
func (r *Repo) Pointer(channel, platform string) (Pointer, error) {
	targets, err := r.targets()
	if err != nil {
		return Pointer{}, err
	}
	return pointerOf(targets, channel, platform)
}

// change applies f to channel's pointer (f sees the feed's targets) and commits it, under the
// feed's lock.
func (r *Repo) change(channel, platform string, f func(*Pointer, *metadata.Metadata[metadata.TargetsType]) error) (Pointer, error) {
	unlock, err := r.lock()
	if err != nil {
		return Pointer{}, err
	}
	defer unlock()
	targets, err := r.targets()
	if err != nil {
		return Pointer{}, err
	}
	p, err := pointerOf(targets, channel, platform)
	if err != nil {
		return Pointer{}, err
	}
	if err := f(&p, targets); err != nil {
		return Pointer{}, err
	}
	return p, r.point(targets, channel, platform, p)
}

// pointerPath is channel's pointer target: its content and its custom field are the Pointer.
func pointerPath(channel, platform string) string {
	return fmt.Sprintf("app/%s/channels/%s.json", platform, channel)
}

func pointerOf(targets *metadata.Metadata[metadata.TargetsType], channel, platform string) (Pointer, error) {
	tf, ok := targets.Signed.Targets[pointerPath(channel, platform)]
	if !ok || tf.Custom == nil {
		return Pointer{}, fmt.Errorf("channel %s has no version for %s yet", channel, platform)
	}
	var p Pointer
	return p, json.Unmarshal(*tf.Custom, &p)
}

// point writes p as channel's pointer and commits a new targets, snapshot and timestamp.
func (r *Repo) point(targets *metadata.Metadata[metadata.TargetsType], channel, platform string, p Pointer) error {
	if p.Percent < 0 || p.Percent > 100 {
		return fmt.Errorf("percent %d: want 0 to 100", p.Percent)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	path := pointerPath(channel, platform)
	tf, err := metadata.TargetFile().FromBytes(path, data, "sha256")
	if err != nil {
		return err
	}
	raw := json.RawMessage(data)
	tf.Custom = &raw
	targets.Signed.Targets[path] = tf
	if err := r.store(path, tf, data); err != nil {
		return err
	}
	return r.commit(targets, targets.Signed.Version)
}

// store writes a target's content where a consistent-snapshot client asks for it:
// targets/DIR/SHA256.NAME.
func (r *Repo) store(path string, tf *metadata.TargetFiles, data []byte) error {
	dir := filepath.Join(r.Dir, "targets", filepath.Dir(path))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, tf.Hashes["sha256"].String()+"."+filepath.Base(path)), data, 0o644)
}

// commit signs targets as version+1, then a snapshot and a timestamp naming it.
func (r *Repo) commit(targets *metadata.Metadata[metadata.TargetsType], version int64) error {
	targets.Signed.Version = version + 1
	targets.Signed.Expires = r.expires("targets")
	if err := r.write(targets, "targets", fmt.Sprintf("%d.targets.json", targets.Signed.Version)); err != nil {
		return err
	}
	snapshot := metadata.Snapshot(r.expires("snapshot"))
	snapshot.Signed.Version = targets.Signed.Version
	snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(targets.Signed.Version)
	if err := r.write(snapshot, "snapshot", fmt.Sprintf("%d.snapshot.json", snapshot.Signed.Version)); err != nil {
		return err
	}
	timestamp := metadata.Timestamp(r.expires("timestamp"))
	timestamp.Signed.Version = snapshot.Signed.Version
	timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(snapshot.Signed.Version)
	if err := sign(timestamp, r.keys["timestamp"]); err != nil {
		return err
	}
	// Written last, and atomically: a client reading meanwhile sees the previous state whole.
	data, err := timestamp.ToBytes(true)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(r.Dir, "metadata"), ".timestamp-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), r.meta("timestamp.json"))
}

func (r *Repo) targets() (*metadata.Metadata[metadata.TargetsType], error) {
	data, err := os.ReadFile(r.meta("timestamp.json"))
	if err != nil {
		return nil, err
	}
	ts, err := metadata.Timestamp().FromBytes(data)
	if err != nil {
		return nil, err
	}
	return metadata.Targets().FromFile(r.meta(fmt.Sprintf("%d.targets.json", ts.Signed.Meta["snapshot.json"].Version)))
}

func (r *Repo) meta(name string) string { return filepath.Join(r.Dir, "metadata", name) }

func (r *Repo) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Repo) expires(role string) time.Time {
	return r.now().UTC().Add(expiry[role]).Truncate(time.Second)
}

func writeKey(path string, key ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

type signable interface {
	Sign(signature.Signer) (*metadata.Signature, error)
	ClearSignatures()
}

// write signs m with role's key and writes it as metadata/file.
func (r *Repo) write(m interface {
	signable
	ToFile(string, bool) error
}, role, file string) error {
	if err := sign(m, r.keys[role]); err != nil {
		return err
	}
	return m.ToFile(r.meta(file), true)
}

// sign replaces m's signatures by one of each key.
func sign(m signable, keys ...ed25519.PrivateKey) error {
	m.ClearSignatures()
	for _, key := range keys {
		s, err := signature.LoadSigner(key, crypto.Hash(0))
		if err != nil {
			return err
		}
		if _, err := m.Sign(s); err != nil {
			return err
		}
	}
	return nil
}
