package admission

import (
	"context"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"

	"bollard.dev/bollard/api/v1alpha1"
)

// BenchmarkReviewDeploymentUpdate is the full decision — every built-in policy through the
// prepared Rego query — for a realistic Deployment UPDATE: new image, a database URL change with
// an approval, a replica change and flag and schema requirements, outside the freeze.
func BenchmarkReviewDeploymentUpdate(b *testing.B) {
	ctx := context.Background()
	engine, err := NewEngine(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	// As from the webhook's cache: objects carry resourceVersions, so compiled windows and parsed
	// flag documents are reused.
	cluster := testCluster()
	cluster.Policies[0].ResourceVersion = "1"
	for _, cm := range cluster.ConfigMaps {
		cm.ResourceVersion = "1"
	}
	gate := NewGate(cluster, engine)
	req := Request{
		Operation: "UPDATE", User: User{Username: "ci@shop", Groups: []string{"deployers"}},
		Now:       time.Date(2026, 12, 1, 12, 0, 0, 0, berlin),
		OldObject: deployment("shop", annotate(v1alpha1.AnnotationSchemaVersion, "42")),
		Object: deployment("shop", newImage, annotate(v1alpha1.AnnotationApprovedChange, "CHG-42"),
			annotate(v1alpha1.AnnotationRequiresFlags, "new-checkout=on"), annotate(v1alpha1.AnnotationSchemaVersion, "42"),
			func(d *appsv1.Deployment) {
				d.Spec.Replicas = ptr.To(int32(5))
				d.Spec.Template.Spec.Containers[0].Env[0].Value = "postgres://app:pw@db2:5432/shop"
			}),
	}
	d, err := gate.Review(ctx, req)
	if err != nil || !d.Allowed || len(d.Warnings) == 0 {
		b.Fatalf("decision %+v, %v; want allowed with the approval warning", d, err)
	}
	latencies := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if _, err := gate.Review(ctx, req); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
}
