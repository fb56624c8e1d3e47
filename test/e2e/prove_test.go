package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

// TestProve: the post-deploy proof runs once the new pods are healthy — an HTTP check (it must
// answer as expected within its timeout, else the revision is rolled back) or a Job (it must
// succeed).
func TestProve(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	env := f.env
	ctx := context.Background()
	var status atomic.Int32
	status.Store(http.StatusOK)
	var seen atomic.Value
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.Path)
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(app.Close)
	f.create(t, v1alpha1.ReleaseSpec{
		Prove: &v1alpha1.Prove{HTTP: &v1alpha1.HTTPProve{URL: app.URL + "/smoke/{{version}}"}, Timeout: &metav1.Duration{Duration: 2 * time.Second}},
	})
	first, repo, d, key, rel, ended := f.first, f.repo, f.d, f.key, f.rel, f.ended
	steps := func(r *v1alpha1.Release) string { return stepsOf(latestLog(t, r)) }

	t.Run("the HTTP check answers: verified", func(t *testing.T) {
		r := ended(t, first)
		if r.Status.Rollout.Phase != "Succeeded" || !strings.Contains(steps(r), "prove OK: GET "+app.URL+"/smoke/v1: 200") || seen.Load() != "/smoke/v1" {
			t.Errorf("rollout %+v: %s", r.Status.Rollout, steps(r))
		}
	})
	t.Run("the HTTP check fails: rolled back", func(t *testing.T) {
		status.Store(http.StatusServiceUnavailable)
		bad := repo.commit(t, "web v2", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 1, "v2")})
		d.push(t, repo, bad, key)
		r := ended(t, bad)
		if r.Status.Rollout.Phase != "RolledBack" || !strings.Contains(steps(r), "prove FAIL: GET "+app.URL+"/smoke/v2: status 503 (want 200)") {
			t.Errorf("rollout %+v: %s", r.Status.Rollout, steps(r))
		}
	})
	t.Run("a prove Job must succeed", func(t *testing.T) {
		r := &v1alpha1.Release{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), r); err != nil {
			t.Fatal(err)
		}
		r.Spec.Prove = &v1alpha1.Prove{Job: &batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "smoke", Image: "registry.local/shop/smoke:1"}}}}}},
			Timeout: &metav1.Duration{Duration: 30 * time.Second}}
		if err := env.Client.Update(ctx, r); err != nil {
			t.Fatal(err)
		}
		next := repo.commit(t, "web v3", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 1, "v3")})
		d.push(t, repo, next, key)
		r = ended(t, next)
		if r.Status.Rollout.Phase != "Succeeded" || !strings.Contains(steps(r), "prove OK: Job shop-prove-"+next[:7]+" succeeded") {
			t.Errorf("rollout %+v: %s", r.Status.Rollout, steps(r))
		}
	})
}
