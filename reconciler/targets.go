package reconciler

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/engine"
	"bollard.dev/bollard/reconciler/render"
	"bollard.dev/bollard/reconciler/snapshot"
	"bollard.dev/bollard/webhook/admission"
)

// Hook annotations: objects carrying one run as hooks of the sync that brings a new revision
// (a migration Job), never again for the same revision.
var hookAnnotations = []string{"argocd.argoproj.io/hook", "helm.sh/hook"}

// apply puts revision (with artifact) back as it was applied before — from its snapshot, by
// digest; good prefers its newest verified snapshot — with no pre-flight, no analysis and no
// hooks: the rollback and promotion path. It says where the objects came from.
func (r *Reconciler) apply(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, revision, artifact string, good bool) (string, error) {
	targets, _, from, err := r.revisionTargets(ctx, rel, revision, artifact, rel.Status.ObservedRender, good)
	if err != nil {
		return "", err
	}
	_, err = r.sync(ctx, eng, rel, withoutHooks(targets), revision)
	return from, err
}

type rollbackKey struct{}

// asRollback marks what syncs under ctx as a rollback to revision: a return to a state the gate
// admitted before, which bollard's webhook admits by the daemon's identity.
func asRollback(ctx context.Context, rel *v1alpha1.Release, revision string) context.Context {
	return context.WithValue(ctx, rollbackKey{}, fmt.Sprintf("%s/%s to %s", rel.Namespace, rel.Name, short(revision)))
}

// sync applies targets as rel's revision, within the sync timeout, pruning as rel says; under
// asRollback every target carries the rollback marker, and is applied as urgent.
func (r *Reconciler) sync(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, targets []*unstructured.Unstructured, revision string) (engine.Result, error) {
	if marker, ok := ctx.Value(rollbackKey{}).(string); ok {
		ctx = engine.Urgent(ctx) // the red button does not wait for the backlog
		marked := make([]*unstructured.Unstructured, len(targets))
		for i, t := range targets {
			marked[i] = t.DeepCopy()
			a := marked[i].GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			a[admission.AnnotationRollback] = marker
			marked[i].SetAnnotations(a)
		}
		targets = marked
	}
	ctx, cancel := context.WithTimeout(ctx, r.syncTimeout())
	defer cancel()
	return eng.Sync(ctx, engine.Key{Namespace: rel.Namespace, Name: rel.Name}, targets, rel.Target(), engine.Options{Prune: rel.Pruning(), Revision: revision, Impersonate: r.impersonation(rel)})
}

// Where a revision's objects came from.
const (
	fromSnapshot = "snapshot"
	fromGit      = "git"
)

// revisionTargets is what revision, applied with artifact, is made of: its snapshot when the
// daemon kept one (good: the revision's newest verified snapshot first), else a new render from
// git (a revision applied before snapshots existed).
func (r *Reconciler) revisionTargets(ctx context.Context, rel *v1alpha1.Release, revision, artifact, rendered string, good bool) ([]*unstructured.Unstructured, string, string, error) {
	if r.Snapshots != nil {
		var snap *snapshot.Snapshot
		var err error
		if good {
			snap, err = r.Snapshots.LoadGood(ctx, rel, revision)
		}
		if snap == nil && err == nil {
			snap, err = r.Snapshots.Load(ctx, rel, revision, artifact, rendered)
		}
		if err != nil {
			return nil, "", "", err
		}
		if snap != nil {
			// What other controllers own now (a new HPA) stays theirs.
			if err := r.ignoreOwnedFields(ctx, rel, snap.Objects); err != nil {
				return nil, "", "", err
			}
			return snap.Objects, snap.Version, fromSnapshot, nil
		}
	}
	creds, err := r.credentials(ctx, rel)
	if err != nil {
		return nil, "", "", err
	}
	fctx, cancel := context.WithTimeout(ctx, r.fetchTimeout())
	defer cancel()
	_, files, err := r.Git.Fetch(fctx, rel.Spec.Source.URL, revision, rel.Spec.Source.Path, creds)
	if err != nil {
		return nil, "", "", fmt.Errorf("revision %s has no snapshot and git failed: %w", short(revision), err)
	}
	objs, err := render.Within(0, files, rel.Spec.Source.Path, renderSpec(rel))
	if err == nil {
		err = r.scope(objs, rel)
	}
	if err != nil {
		return nil, "", "", err
	}
	targets, version, err := r.prepare(ctx, rel, objs, artifact)
	return targets, version, fromGit, err
}

// renderSpec is how rel renders: its spec.render, Helm's release name defaulting to the
// Release's name.
func renderSpec(rel *v1alpha1.Release) v1alpha1.Render {
	spec := rel.Spec.Render
	if spec.ReleaseName == "" {
		spec.ReleaseName = rel.Name
	}
	return spec
}

// prepare turns rendered objects into sync targets: namespace, ignored fields, the artifact pin,
// version tags, labels.
func (r *Reconciler) prepare(ctx context.Context, rel *v1alpha1.Release, objs []render.Object, artifact string) ([]*unstructured.Unstructured, string, error) {
	targets := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		targets[i] = o.Unstructured.DeepCopy()
		if targets[i].GetNamespace() == "" {
			targets[i].SetNamespace(rel.Target())
		}
	}
	if err := r.ignoreOwnedFields(ctx, rel, targets); err != nil {
		return nil, "", err
	}
	if artifact != "" {
		if err := pinArtifact(targets, artifact); err != nil {
			return nil, "", pinError{err}
		}
	}
	version, err := tagVersions(targets)
	if err != nil {
		return nil, "", err
	}
	engine.Label(targets, engine.Key{Namespace: rel.Namespace, Name: rel.Name})
	return targets, version, nil
}

// withoutHooks is targets less the hooks (they ran with the revision's first sync).
func withoutHooks(targets []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(targets))
	for _, t := range targets {
		if !isHook(t) {
			out = append(out, t)
		}
	}
	return out
}

func isHook(t *unstructured.Unstructured) bool {
	for _, a := range hookAnnotations {
		if _, ok := t.GetAnnotations()[a]; ok {
			return true
		}
	}
	return false
}

// rewriteImages sets every container image (init containers included) of the targets' pod
// templates that change maps (ok) to its new value; it returns how many it mapped.
func rewriteImages(targets []*unstructured.Unstructured, change func(string) (string, bool)) int {
	changed := 0
	for _, t := range targets {
		path := podTemplatePath(t.GetKind())
		if path == nil {
			continue
		}
		for _, list := range []string{"containers", "initContainers"} {
			fields := append(append([]string{}, path...), "spec", list)
			containers, found, _ := unstructured.NestedSlice(t.Object, fields...)
			if !found {
				continue
			}
			for i, c := range containers {
				m, ok := c.(map[string]any)
				if !ok {
					continue
				}
				image, _ := m["image"].(string)
				if to, ok := change(image); ok {
					m["image"] = to
					containers[i] = m
					changed++
				}
			}
			_ = unstructured.SetNestedSlice(t.Object, containers, fields...)
		}
	}
	return changed
}

// pinDigests replaces each image pre-flight verified by its digest-pinned reference, so what
// runs is what was verified and a rollback returns to those exact digests; the pod annotation
// that lists the images follows.
func pinDigests(targets []*unstructured.Unstructured, digests map[string]string) error {
	if len(digests) == 0 {
		return nil
	}
	if rewriteImages(targets, func(image string) (string, bool) {
		pinned, ok := digests[image]
		return pinned, ok
	}) == 0 {
		return nil
	}
	_, err := tagVersions(targets)
	return err
}

// pinError is an artifact pin the revision cannot take (no container of its repository): the
// revision is refused with it, not retried.
type pinError struct{ error }

func (e pinError) Unwrap() error { return e.error }

// pinArtifact sets every container image of each pin's repository to that pin
// (repository@sha256:…); artifact holds one pin or several, separated by commas.
func pinArtifact(targets []*unstructured.Unstructured, artifact string) error {
	for _, pin := range splitPins(artifact) {
		repo, digest, ok := strings.Cut(pin, "@")
		if !ok || !strings.HasPrefix(digest, "sha256:") {
			return fmt.Errorf("%s %q: want repository@sha256:<digest>", v1alpha1.AnnotationArtifact, pin)
		}
		if rewriteImages(targets, func(image string) (string, bool) {
			return pin, imageRepository(image) == repo
		}) == 0 {
			return fmt.Errorf("%s %s: no container of the revision runs an image of %s", v1alpha1.AnnotationArtifact, pin, repo)
		}
	}
	return nil
}

// imageRepository is an image reference without tag or digest.
func imageRepository(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}
