package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"bollard.dev/bollard/api"
	"bollard.dev/bollard/api/v1alpha1"
)

func deploymentAt(image string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "namespace": "shop"},
		"spec": map[string]any{"replicas": int64(3), "template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "web", "image": image, "ports": []any{map[string]any{"containerPort": int64(8080)}}}}}}},
	}}
}

func rev(i int) string { return fmt.Sprintf("%040d", i) }

func newStore(t *testing.T) (*Store, *v1alpha1.Release, client.Client) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).Build()
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1"}}
	return &Store{Client: c, Namespace: "bollard-system", Keep: 3}, rel, c
}

// verified is what the daemon's status write at a rollout's success says.
func verified(rel *v1alpha1.Release, i int, artifact, render string) {
	rel.Status.LastGoodRevision, rel.Status.LastGoodArtifact, rel.Status.LastGoodRender = rev(i), artifact, render
}

// TestSnapshots: what was saved comes back as it was (integers stay integers: a sync applies
// them); only verified snapshots are returned for a rollback; the bounds keep Keep verified and
// two unverified ones, never dropping the newest verified.
func TestSnapshots(t *testing.T) {
	ctx := context.Background()
	s, rel, c := newStore(t)
	if snap, err := s.LoadGood(ctx, rel, rev(1)); snap != nil || err != nil {
		t.Fatalf("empty store: %v %v", snap, err)
	}
	pinned := "registry.local/shop/web:v1@sha256:" + strings.Repeat("a", 64)
	if err := s.Save(ctx, rel, Snapshot{Revision: rev(1), Version: "v1", Objects: []*unstructured.Unstructured{deploymentAt(pinned)}}); err != nil {
		t.Fatal(err)
	}
	if snap, _ := s.LoadGood(ctx, rel, rev(1)); snap != nil {
		t.Fatal("an unverified snapshot served as good")
	}
	snap, err := s.Load(ctx, rel, rev(1), "", "")
	if err != nil || snap == nil || snap.Version != "v1" {
		t.Fatalf("load: %+v %v", snap, err)
	}
	containers, _, _ := unstructured.NestedSlice(snap.Objects[0].Object, "spec", "template", "spec", "containers")
	if image := containers[0].(map[string]any)["image"]; image != pinned {
		t.Errorf("image %v", image)
	}
	if n, _, _ := unstructured.NestedInt64(snap.Objects[0].Object, "spec", "replicas"); n != 3 {
		t.Errorf("replicas %v (an int64 after the round trip)", snap.Objects[0].Object["spec"])
	}
	verified(rel, 1, "", "")
	// The same revision with a pin is its own snapshot; saving again keeps the verified mark.
	if err := s.Save(ctx, rel, Snapshot{Revision: rev(1), Artifact: "registry.local/shop/web@sha256:" + strings.Repeat("b", 64), Objects: []*unstructured.Unstructured{deploymentAt("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, rel, Snapshot{Revision: rev(1), Version: "v1", Objects: []*unstructured.Unstructured{deploymentAt(pinned)}}); err != nil {
		t.Fatal(err)
	}
	if snap, _ := s.LoadGood(ctx, rel, rev(1)); snap == nil || snap.Artifact != "" {
		t.Fatalf("the verified snapshot after a re-save: %+v", snap)
	}

	// Revisions 2..8 saved, 2..6 verified: 3 verified kept (6, 5, 4) and 2 unverified (8, 7).
	for i := 2; i <= 8; i++ {
		if err := s.Save(ctx, rel, Snapshot{Revision: rev(i), Objects: []*unstructured.Unstructured{deploymentAt(fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
		if i <= 6 {
			verified(rel, i, "", "")
		}
	}
	for i := 1; i <= 8; i++ {
		snap, err := s.Load(ctx, rel, rev(i), "", "")
		if err != nil {
			t.Fatal(err)
		}
		if want := i >= 4; (snap != nil) != want {
			t.Errorf("revision %d kept: %v, want %v", i, snap != nil, want)
		}
	}
	var sec corev1.Secret
	// The same commit rendered otherwise (a values change) is another snapshot: only the verified
	// one comes back for a rollback.
	if err := s.Save(ctx, rel, Snapshot{Revision: rev(7), Render: "values-a", Objects: []*unstructured.Unstructured{deploymentAt("a")}}); err != nil {
		t.Fatal(err)
	}
	verified(rel, 7, "", "values-a")
	if err := s.Save(ctx, rel, Snapshot{Revision: rev(7), Render: "values-b", Objects: []*unstructured.Unstructured{deploymentAt("b")}}); err != nil {
		t.Fatal(err)
	}
	if snap, err := s.LoadGood(ctx, rel, rev(7)); err != nil || snap == nil || snap.Render != "values-a" {
		t.Errorf("the verified rendering of rev 7: %+v %v", snap, err)
	}
	if snap, err := s.Load(ctx, rel, rev(7), "", "values-b"); err != nil || snap == nil || snap.Render != "values-b" {
		t.Errorf("the new rendering of rev 7: %+v %v", snap, err)
	}
	// Kept in the daemon's namespace, out of the tenant's reach, named after the Release.
	if err := c.Get(ctx, client.ObjectKey{Namespace: "bollard-system", Name: "snapshots.shop.web"}, &sec); err != nil {
		t.Fatal(err)
	}
	if sec.Type != SecretType || sec.Labels[LabelOf] != "web" || sec.Labels[LabelOfNamespace] != "shop" || len(sec.Data) != 6 {
		t.Errorf("Secret: type %q labels %v, %d keys (want 5 snapshots + index)", sec.Type, sec.Labels, len(sec.Data))
	}
	if err := s.Delete(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if snap, err := s.LoadGood(ctx, rel, rev(7)); err != nil || snap != nil {
		t.Errorf("after Delete: %v, %v", snap, err)
	}
	long := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("r", 253)}}
	if k := Key("bollard-system", long); len(k.Name) != 253 || k.Name == Key("bollard-system", &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: long.Namespace, Name: strings.Repeat("r", 252)}}).Name {
		t.Errorf("long names: %q", k.Name)
	}
}

// TestSnapshotBounds: a snapshot over the size bound is refused with a message; a Secret of that
// name that is not bollard's is never read nor overwritten.
func TestSnapshotBounds(t *testing.T) {
	ctx := context.Background()
	s, rel, c := newStore(t)
	var objs []*unstructured.Unstructured
	for range 400 { // random data does not compress
		b := make([]byte, 4096)
		_, _ = rand.Read(b)
		objs = append(objs, deploymentAt(hex.EncodeToString(b)))
	}
	if err := s.Save(ctx, rel, Snapshot{Revision: rev(1), Objects: objs}); err == nil || !strings.Contains(err.Error(), "over the") {
		t.Errorf("an oversized snapshot: %v", err)
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "bollard-system", Name: "snapshots.shop.web"}, Data: map[string][]byte{"password": []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, rel, Snapshot{Revision: rev(2), Objects: []*unstructured.Unstructured{deploymentAt("a")}}); err == nil || !strings.Contains(err.Error(), "is not bollard's snapshot Secret") {
		t.Errorf("someone else's Secret: %v", err)
	}
}

// TestSnapshotWrites: a new Release's snapshot is one create, each later change one merge patch
// on what this Store wrote (no read); a second writer (another daemon, a restart) makes the first
// one's next patch conflict, and it reads and writes back — nothing the other wrote is lost.
func TestSnapshotWrites(t *testing.T) {
	ctx := context.Background()
	calls := map[string]int{}
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			calls["get"]++
			return c.Get(ctx, key, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			calls["create"]++
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			calls["update"]++
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			calls["patch"]++
			return c.Patch(ctx, obj, patch, opts...)
		},
	}).Build()
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1"}}
	a, b := &Store{Client: c, Namespace: "bollard-system", Keep: 3}, &Store{Client: c, Namespace: "bollard-system", Keep: 3}
	save := func(s *Store, i int) {
		t.Helper()
		if err := s.Save(ctx, rel, Snapshot{Revision: rev(i), Version: fmt.Sprintf("v%d", i), Objects: []*unstructured.Unstructured{deploymentAt(fmt.Sprintf("web:v%d", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	save(a, 1)
	verified(rel, 1, "", "") // no write: the next one records it
	rel.Status.ObservedRevision = rev(1)
	save(a, 2)
	if want := map[string]int{"create": 1, "patch": 1}; fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("requests %v, want %v", calls, want)
	}
	save(b, 3) // b knows nothing: reads, writes back
	verified(rel, 2, "", "")
	for i, good := range map[int]bool{1: true, 2: true, 3: false} {
		snap, err := a.Load(ctx, rel, rev(i), "", "")
		if err != nil || snap == nil || snap.Version != fmt.Sprintf("v%d", i) {
			t.Errorf("revision %d after two writers: %+v %v", i, snap, err)
		}
		if g, _ := a.LoadGood(ctx, rel, rev(i)); (g != nil) != good {
			t.Errorf("revision %d verified: %v, want %v", i, g != nil, good)
		}
	}
	// Bounds still drop what they drop: a patch removes the keys of snapshots past them.
	for i := 4; i <= 9; i++ {
		save(a, i)
	}
	var sec corev1.Secret
	if err := c.Get(ctx, Key("bollard-system", rel), &sec); err != nil {
		t.Fatal(err)
	}
	if len(sec.Data) != 1+2+2 { // the index, the 2 verified, the 2 newest unverified
		keys := make([]string, 0, len(sec.Data))
		for k := range sec.Data {
			keys = append(keys, k)
		}
		t.Errorf("Secret keys %v", keys)
	}
}
