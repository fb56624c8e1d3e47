package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/test/kubetest"
)

// BenchmarkApplyFloor1000x10 is the peer of BenchmarkDaemon1000Releases measured in the same
// cluster: the same 1,000 apps' 10 objects each server-side applied straight to the API server,
// 20 apps at a time (no git, no render, no gate, no status) — what `kubectl apply --server-side`
// of the whole monorepo costs — until every Deployment is available. The daemon's figure minus
// this one is bollard's own cost.
func BenchmarkApplyFloor1000x10(b *testing.B) {
	const n, workers = 1000, 20
	env := kubetest.Get(b)
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		ns := env.Namespace(b)
		apps := make([][]*unstructured.Unstructured, n)
		for i := range n {
			files := releaseFiles(fmt.Sprintf("app-%03d", i), "v1")
			names := make([]string, 0, len(files))
			for k := range files {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				u := &unstructured.Unstructured{}
				if err := yaml.Unmarshal([]byte(files[k]), &u.Object); err != nil {
					b.Fatal(err)
				}
				u.SetNamespace(ns)
				apps[i] = append(apps[i], u)
			}
		}
		cpu0, lat0 := cpuTimes(), scrapeServerLatency(b, env.Config)
		b.StartTimer()
		start := time.Now()
		work := make(chan []*unstructured.Unstructured)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for objs := range work {
					for _, u := range objs {
						if err := c.Patch(ctx, u, client.Apply, client.FieldOwner("floor"), client.ForceOwnership); err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
		for _, objs := range apps {
			work <- objs
		}
		close(work)
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		applied := time.Since(start)
		for { // twice a second, from the watch cache: light beside what is measured
			var l appsv1.DeploymentList
			if err := c.List(ctx, &l, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}}); err != nil {
				b.Fatal(err)
			}
			ready := 0
			for _, d := range l.Items {
				if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == 1 && d.Status.UpdatedReplicas == 1 {
					ready++
				}
			}
			if ready == n {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("%d of %d Deployments available after 5 minutes", ready, n)
			}
			time.Sleep(500 * time.Millisecond)
		}
		took := time.Since(start)
		reportCPU(cpu0, took)
		reportServerLatency(b, env.Config, lat0, took)
		b.ReportMetric(applied.Seconds(), "applied-s")
		b.ReportMetric(took.Seconds(), "all-available-s")
		b.StopTimer()
		removeNamespace(b, env, ns, 5*time.Minute)
		b.StartTimer()
	}
}
