package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

// TestReleaseOwnership: a second Release whose repository holds the first one's Deployment is
// refused, naming the first, and changes nothing; a Release meeting a ConfigMap that exists
// without an owner is refused until it says adopt: true.
func TestReleaseOwnership(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	env, ns := f.env, f.ns
	ctx := context.Background()
	f.create(t, v1alpha1.ReleaseSpec{})
	f.ended(t, f.first)

	phase := func(name string) (string, string) {
		var r v1alpha1.Release
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &r); err != nil {
			return "", err.Error()
		}
		return string(r.Status.Phase), r.Status.Message
	}
	t.Run("a second Release claiming the first one's Deployment", func(t *testing.T) {
		other := newGitRepo(t)
		other.commit(t, "web, taken over", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 3, "v9")})
		second := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "intruder"},
			Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: other.url()}, Interval: metav1.Duration{Duration: time.Hour}}}
		if err := env.Client.Create(ctx, second); err != nil {
			t.Fatal(err)
		}
		want := "Deployment " + ns + "/web is managed by Release " + ns + "/shop: a Release never takes over another's objects"
		env.Eventually(t, 60*time.Second, "the second Release refused", func(context.Context) (bool, error) {
			p, msg := phase("intruder")
			return p == "Refused" && strings.Contains(msg, want), nil
		})
		var d appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 1 || d.Labels["bollard.dev/release"] != "shop" {
			t.Errorf("the refused Release changed web: replicas %d, owner %q", *d.Spec.Replicas, d.Labels["bollard.dev/release"])
		}
	})
	t.Run("an unmanaged object is adopted only when the Release says so", func(t *testing.T) {
		if err := env.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "by-hand"}, Data: map[string]string{"x": "1"}}); err != nil {
			t.Fatal(err)
		}
		repo := newGitRepo(t)
		files := map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: by-hand}\ndata: {x: \"2\"}\n"}
		for i := range 11 {
			files[fmt.Sprintf("cm-%d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: new-%d}\n", i)
		}
		repo.commit(t, "the ConfigMaps", files)
		adopter := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "adopter"},
			Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo.url()}, Interval: metav1.Duration{Duration: time.Hour}}}
		if err := env.Client.Create(ctx, adopter); err != nil {
			t.Fatal(err)
		}
		want := "ConfigMap " + ns + "/by-hand exists and no Release manages it: set spec.adopt: true to take it over"
		env.Eventually(t, 60*time.Second, "refused without adopt", func(context.Context) (bool, error) {
			p, msg := phase("adopter")
			return p == "Refused" && strings.Contains(msg, want), nil
		})
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(adopter), adopter); err != nil {
			t.Fatal(err)
		}
		adopter.Spec.Adopt = true
		if err := env.Client.Update(ctx, adopter); err != nil {
			t.Fatal(err)
		}
		env.Eventually(t, 60*time.Second, "adopted", func(ctx context.Context) (bool, error) {
			var cm corev1.ConfigMap
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "by-hand"}, &cm)
			return err == nil && cm.Data["x"] == "2" && cm.Labels["bollard.dev/release"] == "adopter", nil
		})

		// The daemon knows unmanaged objects from a watch it started for the first lookup: one
		// made by hand since is seen as well.
		late := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "late"}, Data: map[string]string{"x": "by hand"}}
		if err := env.Client.Create(ctx, late); err != nil {
			t.Fatal(err)
		}
		repo2 := newGitRepo(t)
		repo2.commit(t, "claims", map[string]string{
			"late.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\ndata: {x: from-git}\n"})
		if err := env.Client.Create(ctx, &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "late"},
			Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo2.url()}, Interval: metav1.Duration{Duration: time.Hour}}}); err != nil {
			t.Fatal(err)
		}
		env.Eventually(t, 60*time.Second, "refused: it exists unmanaged", func(context.Context) (bool, error) {
			p, msg := phase("late")
			return p == "Refused" && strings.Contains(msg, "ConfigMap "+ns+"/late exists and no Release manages it"), nil
		})
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(late), late); err != nil || late.Data["x"] != "by hand" {
			t.Fatalf("the unmanaged ConfigMap was written: %v %v", late.Data, err)
		}
	})
}
