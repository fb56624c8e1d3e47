package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/test/kubetest"
)

// TestDeploymentRecords: every finished Deployment Log is kept as a DeploymentRecord written by
// the daemon under the chart's RBAC — 150 deploys keep the newest 100 (the default retention),
// the status points at the newest, `bollard log` reads them (--id, --limit, -o json), and they
// outlive the Release.
func TestDeploymentRecords(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	key := []byte("k")
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "receiver"}, Data: map[string][]byte{"secret": key}}); err != nil {
		t.Fatal(err)
	}
	settings := func(i int) map[string]string {
		return map[string]string{"settings.yaml": strings.Replace(settingsYAML, "greeting: hello", "greeting: hello-"+strconv.Itoa(i), 1)}
	}
	repo := newGitRepo(t)
	rev := repo.commit(t, "settings 0", settings(0))
	d := startDaemon(t, env, ns, "receiver", t.TempDir())
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
		Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo.url()}, Interval: metav1.Duration{Duration: time.Hour}}}
	if err := env.Client.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	applied := func(rev string) {
		t.Helper()
		env.Eventually(t, 30*time.Second, "revision "+rev[:7]+" recorded", func(ctx context.Context) (bool, error) {
			var r v1alpha1.Release
			err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r)
			// Finished, kept as a record, and out of status: the status keeps only the pointer.
			return err == nil && r.Status.ObservedRevision == rev && r.Status.LastRecordID > 0 && len(r.Status.History) == 0 &&
				latestLog(t, &r).Revision == rev, nil
		})
	}
	applied(rev)
	for i := 1; i < 150; i++ {
		rev = repo.commit(t, fmt.Sprintf("settings %d", i), settings(i))
		d.push(t, repo, rev, key)
		applied(rev)
	}
	var r v1alpha1.Release
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r); err != nil {
		t.Fatal(err)
	}
	newest := reconciler.LatestID(&r)
	if newest < 150 || r.Status.LastRecordID != newest || len(r.Status.History) != 0 {
		t.Fatalf("newest log #%d, lastRecordID %d: want 150 deploys recorded", newest, r.Status.LastRecordID)
	}
	var records v1alpha1.DeploymentRecordList
	env.Eventually(t, 10*time.Second, "the records beyond the retention deleted", func(ctx context.Context) (bool, error) {
		err := env.Client.List(ctx, &records, client.InNamespace(ns), client.MatchingLabels{"bollard.dev/release": "shop"})
		return err == nil && len(records.Items) == 100, nil
	})
	ids := map[int64]bool{}
	for _, rec := range records.Items {
		ids[rec.Log.ID] = true
		if rec.Release != "shop" || rec.ReleaseUID != string(r.UID) || rec.Log.Status != v1alpha1.LogSuccess || rec.Name != fmt.Sprintf("shop-%s-%d", r.UID[:8], rec.Log.ID) {
			t.Errorf("record %s: release %s (%s), log #%d %s", rec.Name, rec.Release, rec.ReleaseUID, rec.Log.ID, rec.Log.Status)
		}
	}
	for id := newest - 99; id <= newest; id++ {
		if !ids[id] {
			t.Errorf("log #%d has no record (the newest 100 are kept)", id)
		}
	}

	// bollard log: the newest 10 by default, every record with --limit 0, one as JSON.
	out, code := bollardCLI(t, env, "log", "shop", "-n", ns)
	if code != 0 || strings.Count(out, "## Deployment Log #") != 10 || !strings.Contains(out, fmt.Sprintf("## Deployment Log #%d ", newest)) {
		t.Errorf("bollard log (exit %d): want the newest 10, #%d first:\n%.2000s", code, newest, out)
	}
	out, code = bollardCLI(t, env, "log", "shop", "-n", ns, "--limit", "0")
	if n := strings.Count(out, "## Deployment Log #"); code != 0 || n != 100 {
		t.Errorf("bollard log --limit 0 (exit %d) printed %d logs, want the 100 records", code, n)
	}
	oldest := strconv.FormatInt(newest-99, 10)
	out, code = bollardCLI(t, env, "log", "shop", "-n", ns, "--id", oldest, "-o", "json")
	var exported []v1alpha1.DeploymentLog
	if err := json.Unmarshal([]byte(out), &exported); code != 0 || err != nil || len(exported) != 1 || exported[0].ID != newest-99 || exported[0].Status != v1alpha1.LogSuccess {
		t.Errorf("bollard log --id %s -o json (exit %d, %v):\n%s", oldest, code, err, out)
	}
	if _, code := bollardCLI(t, env, "log", "shop", "-n", ns, "--id", strconv.FormatInt(newest-100, 10)); code == 0 {
		t.Errorf("log #%d is beyond the retention: bollard log --id found it", newest-100)
	}

	// A tenant cannot forge its audit trail: the Release's ServiceAccount may not write records.
	forged := &v1alpha1.DeploymentRecord{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "forged"}, Release: "shop", Log: v1alpha1.DeploymentLog{ID: 999, Status: v1alpha1.LogSuccess}}
	if c, _ := as(t, env, ns, "system:serviceaccount:"+ns+":"+releaseAccount); c.Create(ctx, forged) == nil {
		t.Error("the Release's ServiceAccount created a DeploymentRecord")
	}

	// The records outlive the Release.
	if err := env.Client.Delete(ctx, rel); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, 30*time.Second, "the Release gone", func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &v1alpha1.Release{})
		return client.IgnoreNotFound(err) == nil && err != nil, nil
	})
	out, code = bollardCLI(t, env, "log", "shop", "-n", ns, "--id", strconv.FormatInt(newest, 10))
	if code != 0 || !strings.Contains(out, fmt.Sprintf("## Deployment Log #%d ", newest)) || !strings.Contains(out, "🟢 SUCCESS") {
		t.Errorf("bollard log of a deleted Release (exit %d):\n%s", code, out)
	}
}
