package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

const migrateJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: registry.local/shop/migrate:44}]
`

// TestMigrationRecordsSchema: a Release's migration Job runs as a PreSync hook with a revision
// whose workloads work with both schemas (the backward-compatible step); its success records the
// schema version where the DeployPolicy's schema source reads it, so the next revision — whose
// workload needs that schema — passes the gate's pre-flight, which refused it before.
func TestMigrationRecordsSchema(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	env, ns := f.env, f.ns
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-schema"}, Data: map[string]string{"version": "43"}}); err != nil {
		t.Fatal(err)
	}
	createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-schema"}, Spec: v1alpha1.DeployPolicySpec{
		Scope:  v1alpha1.Scope{Namespaces: []string{ns}},
		Schema: &v1alpha1.SchemaPolicy{Source: v1alpha1.ConfigMapKeyRef{Namespace: ns, Name: "db-schema", Key: "version"}}}})
	f.create(t, v1alpha1.ReleaseSpec{Migration: &v1alpha1.Migration{Job: "migrate", SchemaVersion: "44",
		Record: v1alpha1.ConfigMapKeyRef{Name: "db-schema", Key: "version"}}})
	if r := f.ended(t, f.first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout %+v", r.Status.Rollout)
	}
	needs44 := strings.Replace(fmt.Sprintf(webYAML, 1, "v3"), "    metadata: {labels: {app: web}}",
		"    metadata: {labels: {app: web}, annotations: {bollard.dev/schema-version: \"44\"}}", 1)
	needs44 = strings.Replace(needs44, "  name: web\n", "  name: web\n  annotations: {bollard.dev/schema-version: \"44\"}\n", 1)

	t.Run("a workload needing schema 44 is refused before the migration", func(t *testing.T) {
		early := f.repo.commit(t, "web v3 needs schema 44", map[string]string{"web.yaml": needs44})
		f.d.push(t, f.repo, early, f.key)
		var r *v1alpha1.Release
		env.Eventually(t, 30*time.Second, "the refusal", func(context.Context) (bool, error) {
			r = f.get(t)
			return r.Status.Phase == "Refused" && r.Status.DesiredRevision == early, nil
		})
		if !strings.Contains(r.Status.Message, "needs database schema 44") {
			t.Errorf("status %q", r.Status.Message)
		}
	})
	t.Run("the migration hook runs with a compatible revision; its version is recorded", func(t *testing.T) {
		migrated := f.repo.commit(t, "migrate to 44 (web v2 works with 43 and 44)", map[string]string{"migrate.yaml": migrateJob, "web.yaml": fmt.Sprintf(webYAML, 1, "v2")})
		f.d.push(t, f.repo, migrated, f.key)
		r := f.ended(t, migrated)
		if r.Status.Rollout.Phase != "Succeeded" || !strings.Contains(stepsOf(logOf(t, r, migrated)), "migration OK: Job migrate applied schema version 44") {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, stepsOf(logOf(t, r, migrated)))
		}
		var cm corev1.ConfigMap
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db-schema"}, &cm); err != nil || cm.Data["version"] != "44" {
			t.Errorf("recorded schema %v %v", cm.Data, err)
		}
	})
	t.Run("then the workload needing schema 44 passes the gate", func(t *testing.T) {
		next := f.repo.commit(t, "web v3 needs schema 44", map[string]string{"web.yaml": needs44})
		f.d.push(t, f.repo, next, f.key)
		if r := f.ended(t, next); r.Status.Rollout.Phase != "Succeeded" || f.image() != "registry.local/shop/web:v3" {
			t.Errorf("rollout %+v, web runs %s: %s", r.Status.Rollout, f.image(), r.Status.Message)
		}
	})
}
