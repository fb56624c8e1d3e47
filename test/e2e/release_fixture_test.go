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
	"bollard.dev/bollard/test/kubetest"
)

// releaseFixture is what a rollout test starts from: its namespace with the push receiver's key,
// a git repository whose first commit runs web v1, a daemon for the namespace, and (once
// created) the Release "shop" of that repository.
type releaseFixture struct {
	env    *kubetest.Env
	ns     string
	repo   *gitRepo
	d      *daemon
	key    []byte
	gitDir string
	first  string
	rel    *v1alpha1.Release
}

func newReleaseFixture(t *testing.T, replicas int) *releaseFixture {
	t.Helper()
	f := &releaseFixture{env: kubetest.Get(t)}
	f.ns = f.env.Namespace(t)
	f.env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	f.key = []byte("push-" + f.ns)
	if err := f.env.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "receiver"},
		Data: map[string][]byte{"secret": f.key}}); err != nil {
		t.Fatal(err)
	}
	f.repo = newGitRepo(t)
	f.first = f.repo.commit(t, "web v1", map[string]string{"web.yaml": fmt.Sprintf(webYAML, replicas, "v1")})
	f.gitDir = t.TempDir()
	f.d = startDaemon(t, f.env, f.ns, "receiver", f.gitDir)
	return f
}

// create makes the Release with spec (source and a one-hour interval filled in).
func (f *releaseFixture) create(t *testing.T, spec v1alpha1.ReleaseSpec) {
	t.Helper()
	spec.Source = v1alpha1.GitSource{URL: f.repo.url()}
	spec.Interval = metav1.Duration{Duration: time.Hour}
	f.rel = &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop"}, Spec: spec}
	if err := f.env.Client.Create(context.Background(), f.rel); err != nil {
		t.Fatal(err)
	}
}

// commitAndPush commits web at version with replicas and pushes it; it returns the revision.
func (f *releaseFixture) commitAndPush(t *testing.T, version string, replicas int) string {
	t.Helper()
	rev := f.repo.commit(t, "web "+version, map[string]string{"web.yaml": fmt.Sprintf(webYAML, replicas, version)})
	f.d.push(t, f.repo, rev, f.key)
	return rev
}

func (f *releaseFixture) get(t *testing.T) *v1alpha1.Release {
	t.Helper()
	var r v1alpha1.Release
	if err := f.env.Client.Get(context.Background(), client.ObjectKeyFromObject(f.rel), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// ended waits for the rollout of revision to end (any phase but Verifying and Failing).
func (f *releaseFixture) ended(t *testing.T, revision string) *v1alpha1.Release {
	t.Helper()
	var r *v1alpha1.Release
	f.env.Eventually(t, 90*time.Second, "the rollout of "+revision[:7], func(context.Context) (bool, error) {
		r = f.get(t)
		ro := r.Status.Rollout
		return ro != nil && ro.Revision == revision && ro.Phase != "Verifying" && ro.Phase != "Failing", nil
	})
	return r
}

// image is what the Deployment web runs ("" when there is none).
func (f *releaseFixture) image() string {
	var dep appsv1.Deployment
	if err := f.env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "web"}, &dep); err != nil {
		return ""
	}
	return dep.Spec.Template.Spec.Containers[0].Image
}

// logOf is the Deployment Log of revision's deploy.
func logOf(t *testing.T, r *v1alpha1.Release, revision string) v1alpha1.DeploymentLog {
	t.Helper()
	logs := kubetest.Get(t).Logs(t, r)
	for _, l := range logs {
		if l.Revision == revision && l.Trigger != "drift" {
			return l
		}
	}
	t.Fatalf("no Deployment Log for %s in %+v", revision, logs)
	return v1alpha1.DeploymentLog{}
}

// latestLog is r's newest Deployment Log (its record, or its status while under way).
func latestLog(t *testing.T, r *v1alpha1.Release) v1alpha1.DeploymentLog {
	t.Helper()
	return kubetest.Get(t).LatestLog(t, r)
}

// stepsOf is a log's steps on one line: "name RESULT: detail | …".
func stepsOf(l v1alpha1.DeploymentLog) string {
	var parts []string
	for _, s := range l.Steps {
		parts = append(parts, s.Name+" "+string(s.Result)+": "+s.Detail)
	}
	return strings.Join(parts, " | ")
}
