package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/tracing"
	"bollard.dev/bollard/webhook"
)

// otlpReceiver is the OpenTelemetry collector's trace service (its protocol's own gRPC
// definition) on a loopback port: what bollard's OTLP exporter sends, kept per service.
type otlpReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service, version string
	span             *tracepb.Span
}

func (r *otlpReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		var service, version string
		for _, a := range rs.Resource.GetAttributes() {
			switch a.Key {
			case "service.name":
				service = a.Value.GetStringValue()
			case "service.version":
				version = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, receivedSpan{service, version, s})
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// find is the spans of service that match.
func (r *otlpReceiver) find(service string, match func(*tracepb.Span) bool) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range r.spans {
		if s.service == service && match(s.span) {
			out = append(out, s.span)
		}
	}
	return out
}

func startOTLPReceiver(t *testing.T) (*otlpReceiver, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &otlpReceiver{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, r)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return r, l.Addr().String()
}

func attr(s *tracepb.Span, key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			if v := a.Value.GetStringValue(); v != "" {
				return v
			}
			return a.Value.String()
		}
	}
	return ""
}

// TestTraces: with an OTLP endpoint, the webhook sends a span per admission decision (verdict,
// object, user; a child span per concern) and the daemon a trace per change — a root span whose
// trace ID its Deployment Log keeps, a span per gate and step with what it saw, and the end —
// received by the collector protocol's real gRPC service, with service.name and service.version.
func TestTraces(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	recv, addr := startOTLPReceiver(t)
	opts := tracing.Options{Endpoint: addr, Insecure: true}
	gateTP, err := tracing.New(ctx, opts, "bollard-webhook", "v9.9.9-test")
	if err != nil || gateTP == nil {
		t.Fatalf("tracer provider: %v", err)
	}
	daemonTP, err := tracing.New(ctx, opts, "bollard-daemon", "v9.9.9-test")
	if err != nil || daemonTP == nil {
		t.Fatalf("tracer provider: %v", err)
	}
	t.Cleanup(func() { _ = gateTP.Shutdown(context.Background()); _ = daemonTP.Shutdown(context.Background()) })

	t.Run("a span per admission decision", func(t *testing.T) {
		startGateWith(t, env, ns, webhook.Config{Tracer: gateTP})
		if err := env.Client.Create(ctx, deployment(ns, "registry.local/shop/web:v1", 1), client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		var spans []*tracepb.Span
		env.Eventually(t, 20*time.Second, "the admission span received", func(context.Context) (bool, error) {
			spans = recv.find("bollard-webhook", func(s *tracepb.Span) bool {
				return strings.HasPrefix(s.Name, "admission CREATE Deployment") && attr(s, "k8s.namespace.name") == ns
			})
			return len(spans) > 0, nil
		})
		s := spans[0]
		if attr(s, "bollard.verdict") != "allowed" || attr(s, "bollard.name") != "web" || attr(s, "bollard.user") == "" || attr(s, "bollard.operation") != "CREATE" {
			t.Errorf("admission span attributes: %v", s.Attributes)
		}
		children := map[string]bool{}
		for _, c := range recv.find("bollard-webhook", func(c *tracepb.Span) bool { return string(c.ParentSpanId) == string(s.SpanId) }) {
			children[c.Name] = true
		}
		for _, want := range []string{"flags", "schema", "signatures", "policy"} {
			if !children[want] {
				t.Errorf("no %q span under the admission span (children %v)", want, children)
			}
		}
	})

	t.Run("a trace per change, its ID in the Deployment Log", func(t *testing.T) {
		repo := newGitRepo(t)
		repo.commit(t, "web v1", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 1, "v1")})
		startDaemonOpts(t, nil, ns, "receiver", t.TempDir(), func(o *reconciler.Options) { o.Tracer = daemonTP })
		rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
			Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo.url()}, Interval: metav1.Duration{Duration: time.Hour}}}
		if err := env.Client.Create(ctx, rel); err != nil {
			t.Fatal(err)
		}
		var r v1alpha1.Release
		env.Eventually(t, 60*time.Second, "the revision verified", func(ctx context.Context) (bool, error) {
			err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r)
			return err == nil && r.Status.Rollout != nil && r.Status.Rollout.Phase == "Succeeded", nil
		})
		l := latestLog(t, &r)
		if len(l.TraceID) != 32 {
			t.Fatalf("Deployment Log #%d keeps no trace ID (%q)", l.ID, l.TraceID)
		}
		names := map[string]*tracepb.Span{}
		env.Eventually(t, 20*time.Second, "the change's spans received", func(context.Context) (bool, error) {
			for _, s := range recv.find("bollard-daemon", func(s *tracepb.Span) bool { return traceHex(s.TraceId) == l.TraceID }) {
				names[s.Name] = s
			}
			return names["end SUCCESS"] != nil, nil
		})
		root := names["deploy "+ns+"/shop"]
		if root == nil || attr(root, "bollard.revision") != l.Revision || attr(root, "bollard.strategy") != "rolling: rollout" {
			t.Fatalf("root span %v (spans %v)", root, keysOf(names))
		}
		for _, want := range []string{"render", "pre-flight", "apply", "health", "drain", "end SUCCESS"} {
			s := names[want]
			if s == nil {
				t.Errorf("no %q span in trace %s (spans %v)", want, l.TraceID, keysOf(names))
				continue
			}
			if traceHex(s.ParentSpanId) != l.SpanID || (want != "end SUCCESS" && attr(s, "bollard.result") != "OK") {
				t.Errorf("span %s: parent %s (root %s), result %q", want, traceHex(s.ParentSpanId), l.SpanID, attr(s, "bollard.result"))
			}
		}
		if s := names["health"]; s != nil && !strings.Contains(attr(s, "bollard.detail"), "1/1 Ready") {
			t.Errorf("health span detail %q", attr(s, "bollard.detail"))
		}
		recv.mu.Lock()
		for _, s := range recv.spans {
			if s.version != "v9.9.9-test" {
				t.Errorf("%s span %q: service.version %q", s.service, s.span.Name, s.version)
				break
			}
		}
		recv.mu.Unlock()
	})
}

func traceHex(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(out)
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
