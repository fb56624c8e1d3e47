// Package snapshot keeps what each revision of a Release applied — its rendered objects, images
// pinned to the digests pre-flight verified — durably in the cluster, so the red button needs
// neither git nor the registry: a rollback, a canary's stable side and self-heal apply the
// snapshot, not a new render.
//
// The snapshots of one Release live in one Secret in the daemon's own namespace
// ("snapshots.<namespace>.<release>": a tenant cannot rewrite what a rollback will apply, and the
// daemon needs no write access to tenants' Secrets; a Secret because rendered revisions may hold
// Secrets), one gzip-compressed JSON entry per revision and pin, at most Keep verified ones plus
// the newest unverified ones, within a size bound. Deleting the Release deletes them (Delete,
// from its finalizer).
package snapshot

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

const (
	// SecretType marks bollard's snapshot Secrets.
	SecretType corev1.SecretType = "bollard.dev/snapshots"
	// LabelOf and LabelOfNamespace name the Release a snapshot Secret belongs to. Not the
	// engine's release labels: the Secret is the daemon's, never a managed (prunable) object.
	LabelOf          = "bollard.dev/snapshots-of"
	LabelOfNamespace = "bollard.dev/snapshots-of-namespace"

	indexKey = "index"
	// maxBytes bounds the Secret's data (the API server's limit is 1 MiB).
	maxBytes = 900 << 10
	// unverifiedKept is how many snapshots not (yet) verified are kept beside the good ones.
	unverifiedKept = 2
)

// Snapshot is one revision as applied.
type Snapshot struct {
	Revision string `json:"revision"`
	// Artifact is the bollard.dev/artifact pin it was applied with ("" for git's images).
	Artifact string `json:"artifact,omitempty"`
	// Render is the Release's RenderDigest it was rendered with.
	Render string `json:"render,omitempty"`
	// Version is the version the SLO queries select.
	Version string                       `json:"version,omitempty"`
	Objects []*unstructured.Unstructured `json:"objects"`
}

// entry is a snapshot's line in the index.
type entry struct {
	Key      string    `json:"key"`
	Revision string    `json:"revision"`
	Artifact string    `json:"artifact,omitempty"`
	Good     bool      `json:"good,omitempty"`
	Saved    time.Time `json:"saved"`
	Bytes    int       `json:"bytes"`
}

// Store reads and writes snapshots through the API server.
type Store struct {
	Client client.Client
	// Namespace keeps the snapshot Secrets: the daemon's own.
	Namespace string
	// Keep is how many verified revisions are kept; zero is 5.
	Keep int

	mu sync.Mutex
	// written is what this Store last wrote to each Secret (its resourceVersion and index): the
	// next change is a merge patch of what changed, on the condition that nobody wrote since —
	// one request instead of a read and a write. Anything else (a conflict, a restart) reads.
	written map[client.ObjectKey]memo
}

type memo struct {
	resourceVersion string
	index           []entry
}

// Key is where rel's snapshot Secret is kept in namespace.
func Key(namespace string, rel *v1alpha1.Release) client.ObjectKey {
	name := "snapshots." + rel.Namespace + "." + rel.Name
	if len(name) > 253 { // a Secret's name is a DNS subdomain
		h := sha256.Sum256([]byte(name))
		name = name[:253-13] + "." + hex.EncodeToString(h[:6])
	}
	return client.ObjectKey{Namespace: namespace, Name: name}
}

// Delete removes rel's snapshots (the Release is gone).
func (s *Store) Delete(ctx context.Context, rel *v1alpha1.Release) error {
	k := Key(s.Namespace, rel)
	s.forget(k)
	err := s.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete snapshots %s: %w", k, err)
	}
	return nil
}

// key names the snapshot of revision with artifact, rendered as render says (the Release's
// RenderDigest: a values change of one commit is another snapshot, and only what was verified is
// rolled back to).
func key(revision, artifact, render string) string {
	k := "rev-" + revision
	if artifact != "" {
		h := sha256.Sum256([]byte(artifact))
		k += "-" + hex.EncodeToString(h[:6])
	}
	if render != "" {
		k += "-r" + render
	}
	return k
}

// Save stores snap (replacing an earlier one of the same revision and pin, which keeps its
// verified mark), marks the one rel's status names as verified last, and drops what is past the
// bounds: the oldest unverified, then the oldest verified — never the newest verified one.
func (s *Store) Save(ctx context.Context, rel *v1alpha1.Release, snap Snapshot) error {
	data, err := encode(snap)
	if err != nil {
		return err
	}
	if len(data) > maxBytes {
		return fmt.Errorf("snapshot of revision %s: %d bytes compressed, over the %d-byte bound", short(snap.Revision), len(data), maxBytes)
	}
	k, verified := key(snap.Revision, snap.Artifact, snap.Render), goodKey(rel)
	return s.update(ctx, rel, func(sec *corev1.Secret, index []entry) ([]entry, error) {
		good := false
		index = slices.DeleteFunc(index, func(e entry) bool {
			if e.Key == k {
				good = e.Good
				return true
			}
			return false
		})
		index = append([]entry{{Key: k, Revision: snap.Revision, Artifact: snap.Artifact, Good: good, Saved: time.Now().UTC(), Bytes: len(data)}}, index...)
		for i := range index { // verified since the last write: the Release's status says so
			if index[i].Key == verified {
				index[i].Good = true
			}
		}
		sec.Data[k] = data
		return s.bound(sec, index), nil
	})
}

// Load returns the snapshot of revision applied with artifact, or nil when there is none.
func (s *Store) Load(ctx context.Context, rel *v1alpha1.Release, revision, artifact, render string) (*Snapshot, error) {
	sec, _, err := s.read(ctx, rel)
	if err != nil || sec == nil {
		return nil, err
	}
	return decodeKey(sec, key(revision, artifact, render))
}

// LoadGood returns the newest verified snapshot of revision (whatever its pin), or nil.
func (s *Store) LoadGood(ctx context.Context, rel *v1alpha1.Release, revision string) (*Snapshot, error) {
	sec, index, err := s.read(ctx, rel)
	if err != nil || sec == nil {
		return nil, err
	}
	good := goodKey(rel)
	for _, e := range index {
		if (e.Good || e.Key == good) && e.Revision == revision {
			return decodeKey(sec, e.Key)
		}
	}
	return nil, nil
}

// goodKey names the snapshot the Release's status says was verified last ("" when none was). It
// counts as verified without a write of its own: the index records it at the next Save.
func goodKey(rel *v1alpha1.Release) string {
	if rel.Status.LastGoodRevision == "" {
		return ""
	}
	return key(rel.Status.LastGoodRevision, rel.Status.LastGoodArtifact, rel.Status.LastGoodRender)
}

func (s *Store) bound(sec *corev1.Secret, index []entry) []entry {
	keep := s.Keep
	if keep <= 0 {
		keep = 5
	}
	goods, others, size := 0, 0, 0
	newestGood := ""
	for _, e := range index {
		if e.Good && newestGood == "" {
			newestGood = e.Key
		}
	}
	var out []entry
	for _, e := range index { // newest first
		switch {
		case e.Key == newestGood:
		case e.Good && goods >= keep, !e.Good && others >= unverifiedKept, size+e.Bytes > maxBytes:
			delete(sec.Data, e.Key)
			continue
		}
		if e.Good {
			goods++
		} else {
			others++
		}
		size += e.Bytes
		out = append(out, e)
	}
	return out
}

func (s *Store) read(ctx context.Context, rel *v1alpha1.Release) (*corev1.Secret, []entry, error) {
	var sec corev1.Secret
	if err := s.Client.Get(ctx, Key(s.Namespace, rel), &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("read snapshots: %w", err)
	}
	if sec.Type != SecretType {
		return nil, nil, fmt.Errorf("Secret %s/%s is not bollard's snapshot Secret (type %q)", sec.Namespace, sec.Name, sec.Type)
	}
	var index []entry
	if raw := sec.Data[indexKey]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &index); err != nil {
			return nil, nil, fmt.Errorf("snapshot index of %s: %w", rel.Name, err)
		}
	}
	return &sec, index, nil
}

// update changes the Secret (made when missing) under optimistic concurrency: from what this
// Store wrote last when it has that (one merge patch), else read and written back; a Release
// that never ran tries to create the Secret first.
func (s *Store) update(ctx context.Context, rel *v1alpha1.Release, change func(*corev1.Secret, []entry) ([]entry, error)) error {
	k := Key(s.Namespace, rel)
	if done, err := s.patchFromMemo(ctx, k, change); done {
		return err
	}
	fresh := rel.Status.ObservedRevision == "" && len(rel.Status.History) == 0 && rel.Status.LastRecordID == 0
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var sec *corev1.Secret
		var index []entry
		if !fresh {
			var err error
			if sec, index, err = s.read(ctx, rel); err != nil {
				return err
			}
		}
		create := sec == nil
		if create {
			sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name,
				Labels: map[string]string{LabelOf: rel.Name, LabelOfNamespace: rel.Namespace}}, Type: SecretType}
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		index, err := change(sec, index)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(index)
		if err != nil {
			return err
		}
		sec.Data[indexKey] = raw
		if create {
			err = s.Client.Create(ctx, sec)
			if apierrors.IsAlreadyExists(err) && fresh { // not so fresh: read it, and try again
				fresh = false
				return apierrors.NewConflict(corev1.Resource("secrets"), k.Name, err)
			}
		} else {
			err = s.Client.Update(ctx, sec)
		}
		if err == nil {
			s.remember(k, sec.ResourceVersion, index)
		}
		return err
	})
}

// patchFromMemo makes change as a merge patch on what this Store wrote last, on the condition
// that the Secret is still at that resourceVersion. done is false when there is nothing to go on
// or somebody else wrote since (then the caller reads).
func (s *Store) patchFromMemo(ctx context.Context, k client.ObjectKey, change func(*corev1.Secret, []entry) ([]entry, error)) (done bool, _ error) {
	s.mu.Lock()
	m, ok := s.written[k]
	s.mu.Unlock()
	if !ok {
		return false, nil
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}, Data: map[string][]byte{}}
	index, err := change(sec, slices.Clone(m.index))
	if err != nil { // perhaps only not known here (another daemon wrote it): read
		s.forget(k)
		return false, nil
	}
	data := map[string]any{}
	for key, v := range sec.Data { // what change added
		data[key] = v
	}
	for _, e := range m.index { // what it dropped
		if !slices.ContainsFunc(index, func(n entry) bool { return n.Key == e.Key }) {
			data[e.Key] = nil
		}
	}
	raw, err := json.Marshal(index)
	if err != nil {
		return true, err
	}
	data[indexKey] = raw
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": m.resourceVersion}, "data": data})
	if err != nil {
		return true, err
	}
	if err := s.Client.Patch(ctx, sec, client.RawPatch(types.MergePatchType, body)); err != nil {
		// Somebody wrote since (a conflict), the Secret is gone, or the patch is not allowed (an
		// older chart's role): read and write back, as without a memo.
		s.forget(k)
		return false, nil
	}
	s.remember(k, sec.ResourceVersion, index)
	return true, nil
}

func (s *Store) remember(k client.ObjectKey, resourceVersion string, index []entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written == nil {
		s.written = map[client.ObjectKey]memo{}
	}
	s.written[k] = memo{resourceVersion: resourceVersion, index: index}
}

func (s *Store) forget(k client.ObjectKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.written, k)
}

// gzipWriters are reused: a new gzip.Writer allocates its compressor's ~0.7 MiB of tables (with
// 1,000 Releases syncing, most of what the daemon allocated for snapshots).
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func encode(snap Snapshot) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if err := json.NewEncoder(zw).Encode(snap); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decodeKey(sec *corev1.Secret, k string) (*Snapshot, error) {
	raw, ok := sec.Data[k]
	if !ok {
		return nil, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", k, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", k, err)
	}
	var snap Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", k, err)
	}
	return &snap, nil
}

func short(h string) string { return h[:min(7, len(h))] }
