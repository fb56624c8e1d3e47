package realnode

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/test/kubetest"
)

// BenchmarkAdmissionThroughService: the webhook installed from the OCI registry as 3 real pods;
// a real pod (test/realnode/admit) sends the same AdmissionReview — a Deployment running bollard's
// own signed image — through the webhook's Service (its ClusterIP, kube-proxy, TLS checked against
// the chart's CA) from 8 keep-alive clients for 10 s. Its admissions/s and latency stand beside the
// loopback figures of the webhook package's benchmarks (docs/benchmarks.md).
func BenchmarkAdmissionThroughService(b *testing.B) {
	env := kubetest.Get(b)
	release, ns := env.Namespace(b), env.Namespace(b)
	ctx := context.Background()
	// The load tool is not signed: images without a policy are warned about (bollard's own, the
	// one measured, is verified by the chart's policy).
	inst := installFromOCI(b, env, release, "--set", "daemon.enabled=false", "--set", "signedImages=warn")
	tool := pushStatic(b, env, "bollard.dev/bollard/test/realnode/admit", "admit", "v1")
	var svc corev1.Service
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: release, Name: "bollard-webhook"}, &svc); err != nil {
		b.Fatal(err)
	}
	var secret corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: release, Name: "bollard-webhook-tls"}, &secret); err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		name := fmt.Sprintf("admit-%d", n)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "admit", Image: tool, Args: []string{
				"-url", fmt.Sprintf("https://%s:%d/validate", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port),
				"-server-name", "bollard-webhook." + release + ".svc", "-ca", base64.StdEncoding.EncodeToString(secret.Data["ca.crt"]),
				"-image", inst.ref, "-namespace", ns, "-clients", "8", "-duration", "10s"}}}}}
		onRealNode(&pod.Spec)
		if err := env.Client.Create(ctx, pod); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		waitLog(b, env, ns, name, "admissions ")
		b.StopTimer()
		log := podLog(b, env, ns, name)
		var total, allowed, errs int
		var secs, rate, p50, p95, p99, worst float64
		line := log[strings.Index(log, "admissions "):]
		if _, err := fmt.Sscanf(line, "admissions %d allowed %d in %fs: %f/s p50 %f p95 %f p99 %f max %f errors %d",
			&total, &allowed, &secs, &rate, &p50, &p95, &p99, &worst, &errs); err != nil {
			b.Fatalf("%v: %s", err, log)
		}
		b.Logf("through the Service from a real pod: %s", strings.TrimSpace(log))
		if errs > 0 || allowed != total || total == 0 {
			b.Errorf("%d admissions, %d allowed, %d errors: %s", total, allowed, errs, log)
		}
		b.ReportMetric(rate, "adm/s")
		b.ReportMetric(p50, "p50-ms")
		b.ReportMetric(p99, "p99-ms")
		_ = env.Client.Delete(ctx, pod)
		b.StartTimer()
	}
}
