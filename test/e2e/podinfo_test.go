package e2e

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/kubetest"
)

// podinfoFiles are podinfo 6.14.1's kustomization and Helm chart as vendored (testdata), plus a
// prod overlay on the kustomization from elsewhere in the repository (../../kustomize).
func podinfoFiles(t *testing.T) map[string]string {
	t.Helper()
	root := "testdata/podinfo-6.14.1"
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	files["overlays/prod/kustomization.yaml"] = "resources: [../../kustomize]\nnamePrefix: prod-\n"
	return files
}

// TestRealRepositoryPodinfo: a real public app repository through the daemon — podinfo's
// kustomize/ (Deployment, Service, HPA: integer fields everywhere), an overlay loading it as a
// base from elsewhere in the repository, and its Helm chart (named after the Release, its test
// hooks neither applied nor pre-flighted) — synced; drift reverted; a push applied.
func TestRealRepositoryPodinfo(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	key := []byte("push-" + ns)
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "receiver"}, Data: map[string][]byte{"secret": key}}); err != nil {
		t.Fatal(err)
	}
	repo := newGitRepo(t)
	files := podinfoFiles(t)
	repo.commit(t, "podinfo 6.14.1", files)
	d := startDaemon(t, env, ns, "receiver", t.TempDir())
	releases := map[string]v1alpha1.ReleaseSpec{
		"podinfo":      {Source: v1alpha1.GitSource{URL: repo.url(), Path: "kustomize"}},
		"podinfo-prod": {Source: v1alpha1.GitSource{URL: repo.url(), Path: "overlays/prod"}},
		"podinfo-helm": {Source: v1alpha1.GitSource{URL: repo.url(), Path: "charts/podinfo"}, Render: v1alpha1.Render{Mode: v1alpha1.RenderHelm}},
	}
	for name, spec := range releases {
		spec.Interval = metav1.Duration{Duration: time.Hour}
		if err := env.Client.Create(ctx, &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	image := func(name string) string {
		var dep appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &dep); err != nil {
			return ""
		}
		return dep.Spec.Template.Spec.Containers[0].Image
	}
	synced := func(name string) bool {
		var r v1alpha1.Release
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &r) == nil && r.Status.Phase == "Synced"
	}
	for release, deployment := range map[string]string{"podinfo": "podinfo", "podinfo-prod": "prod-podinfo", "podinfo-helm": "podinfo-helm"} {
		env.Eventually(t, 90*time.Second, release+" synced", func(context.Context) (bool, error) {
			return synced(release) && strings.HasPrefix(image(deployment), "ghcr.io/stefanprodan/podinfo:6.14.1"), nil
		})
	}
	for _, obj := range []client.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "podinfo"}}, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "podinfo"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "prod-podinfo"}}, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-helm"}}} {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: obj.GetName()}, obj); err != nil {
			t.Errorf("%T %s: %v", obj, obj.GetName(), err)
		}
	}
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Annotations["helm.sh/hook"] != "" {
			t.Errorf("the chart's test hook %s was applied", p.Name)
		}
	}

	t.Run("drift reverted", func(t *testing.T) {
		var dep appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, &dep); err != nil {
			t.Fatal(err)
		}
		dep.Spec.Template.Spec.Containers[0].Image = "ghcr.io/stefanprodan/podinfo:hacked"
		if err := env.Client.Update(ctx, &dep); err != nil {
			t.Fatal(err)
		}
		env.Eventually(t, 30*time.Second, "the image put back", func(context.Context) (bool, error) {
			return image("podinfo") == "ghcr.io/stefanprodan/podinfo:6.14.1", nil
		})
	})
	t.Run("a push applied", func(t *testing.T) {
		files["kustomize/deployment.yaml"] = strings.ReplaceAll(files["kustomize/deployment.yaml"], "podinfo:6.14.1", "podinfo:6.14.2")
		rev := repo.commit(t, "podinfo 6.14.2", map[string]string{"kustomize/deployment.yaml": files["kustomize/deployment.yaml"]})
		if resp := d.push(t, repo, rev, key); resp.StatusCode != 202 {
			t.Fatalf("push: %s", resp.Status)
		}
		for _, name := range []string{"podinfo", "prod-podinfo"} {
			env.Eventually(t, 60*time.Second, name+" on 6.14.2", func(context.Context) (bool, error) {
				return image(name) == "ghcr.io/stefanprodan/podinfo:6.14.2", nil
			})
		}
	})
}
