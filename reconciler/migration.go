package reconciler

import (
	"context"
	"errors"
	"fmt"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/common"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"bollard.dev/bollard/api/v1alpha1"
)

// recordMigration writes the schema version the Release's migration Job applied, when the Job ran
// as a hook of this sync and succeeded. It reports the log line and whether there was one.
func (r *Reconciler) recordMigration(ctx context.Context, rel *v1alpha1.Release, results []common.ResourceSyncResult) (v1alpha1.LogStep, bool) {
	m := rel.Spec.Migration
	for _, res := range results {
		if res.HookType == "" || res.ResourceKey.Kind != "Job" || res.ResourceKey.Name != m.Job {
			continue
		}
		step := v1alpha1.LogStep{Name: "migration", Result: "OK", Detail: fmt.Sprintf("Job %s applied schema version %s", m.Job, m.SchemaVersion)}
		if res.HookPhase != common.OperationSucceeded {
			step.Result, step.Detail = "FAIL", fmt.Sprintf("Job %s: %s %s", m.Job, res.HookPhase, res.Message)
			return step, true
		}
		ns := m.Record.Namespace
		if ns == "" {
			ns = rel.Target()
		}
		ref := m.Record
		ref.Namespace = ns
		why, err := r.recordAllowed(ctx, rel, ref)
		if err == nil && why != "" {
			err = errors.New(why)
		}
		if err != nil {
			step.Result, step.Detail = v1alpha1.ResultFail, fmt.Sprintf("schema version %s not recorded: %v", m.SchemaVersion, err)
			return step, true
		}
		c, err := r.clientFor(rel)
		if err != nil {
			step.Result, step.Detail = v1alpha1.ResultFail, fmt.Sprintf("schema version %s not recorded: %v", m.SchemaVersion, err)
			return step, true
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: m.Record.Name}}
		_, err = controllerutil.CreateOrUpdate(ctx, c, cm, func() error {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[m.Record.Key] = m.SchemaVersion
			return nil
		})
		if err != nil {
			step.Result, step.Detail = "FAIL", fmt.Sprintf("record schema version %s in ConfigMap %s/%s: %v", m.SchemaVersion, ns, m.Record.Name, err)
		} else {
			step.Detail += fmt.Sprintf(" (recorded in ConfigMap %s/%s key %s)", ns, m.Record.Name, m.Record.Key)
		}
		return step, true
	}
	return v1alpha1.LogStep{}, false
}
