package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/webhook/admission"
)

// testServer is a Server over manifests instead of a cluster, for the handler's unit tests; the
// e2e suite runs the real one against the API server.
func testServer(t testing.TB) *Server {
	t.Helper()
	engine, err := admission.NewEngine(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	objects := &admission.Objects{
		Policies: []v1alpha1.DeployPolicy{{
			ObjectMeta: metav1.ObjectMeta{Name: "shop", ResourceVersion: "1"},
			Spec: v1alpha1.DeployPolicySpec{
				Scope:        v1alpha1.Scope{Namespaces: []string{"shop"}},
				RiskyChanges: &v1alpha1.RiskyChangePolicy{Rules: []v1alpha1.RiskRule{{Class: v1alpha1.ChangeDatabaseURL, Action: v1alpha1.ActionDeny}}},
				Flags:        &v1alpha1.FlagPolicy{Source: v1alpha1.ConfigMapKeyRef{Namespace: "shop", Name: "flags", Key: "flags.json"}},
				Schema:       &v1alpha1.SchemaPolicy{Source: v1alpha1.ConfigMapKeyRef{Namespace: "shop", Name: "db", Key: "version"}},
			},
		}},
		ConfigMaps: map[types.NamespacedName]*corev1.ConfigMap{
			{Namespace: "shop", Name: "flags"}: {ObjectMeta: metav1.ObjectMeta{ResourceVersion: "7"}, Data: map[string]string{
				"flags.json": `{"flags": {"new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`}},
			{Namespace: "shop", Name: "db"}: {Data: map[string]string{"version": "42"}},
		},
	}
	s := &Server{gate: admission.NewGate(objects, engine), events: fake.NewClientset(), metrics: newMetrics(), log: logr.Discard(), timeout: time.Second, denials: newDenialLimiter()}
	s.ready.Store(true)
	return s
}

func post(t testing.TB, s *Server, body []byte, contentType string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func TestValidate(t *testing.T) {
	s := testServer(t)
	body, err := os.ReadFile("testdata/review-update.json")
	if err != nil {
		t.Fatal(err)
	}
	rec := post(t, s, body, "application/json")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil {
		t.Fatal(err)
	}
	r := review.Response
	if r == nil || r.UID != "0b5c1b0e-1" || r.Allowed || review.Request != nil {
		t.Fatalf("response %+v", review)
	}
	if msg := r.Result.Message; !strings.Contains(msg, "risky change (DatabaseURL)") || strings.Contains(msg, "db2") || r.Result.Code != http.StatusForbidden {
		t.Errorf("denial %q (code %d)", msg, r.Result.Code)
	}
	if !strings.Contains(strings.Join(r.Warnings, "\n"), "readiness probe removed") {
		t.Errorf("warnings %q lack the removed probe", r.Warnings)
	}
}

func TestValidateRejectsMalformedRequests(t *testing.T) {
	s := testServer(t)
	for _, tc := range []struct {
		name, body, contentType string
		code                    int
		want                    string
	}{
		{"not JSON", `{"apiVersion":`, "application/json", 400, "malformed AdmissionReview"},
		{"wrong kind", `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1"}}`, "application/json", 400, "want an admission.k8s.io/v1 AdmissionReview"},
		{"no request", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "application/json", 400, "has no request"},
		{"no uid", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`, "application/json", 400, "has no uid"},
		// A review with a uid is answered, and an object bollard cannot read is denied.
		{"object not an object", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","object":[1,2]}}`, "application/json", 200,
			`"uid":"1","allowed":false,"status":{"metadata":{},"message":"bollard cannot read this request, denied to be safe: request.object: not a JSON object`},
		{"create without object", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE"}}`, "application/json", 200,
			`"allowed":false,"status":{"metadata":{},"message":"bollard cannot read this request, denied to be safe: CREATE request has no object"`},
		{"old object unreadable", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"2","operation":"UPDATE","object":{"kind":"Pod"},"oldObject":"x"}}`, "application/json", 200,
			`"uid":"2","allowed":false`},
		{"yaml", `{}`, "application/yaml", 415, "Content-Type must be application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := post(t, s, []byte(tc.body), tc.contentType)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("status %d %q, want %d and %q", rec.Code, rec.Body, tc.code, tc.want)
			}
		})
	}
}

func TestRejectedPolicyModulesKeepTheWorkingSet(t *testing.T) {
	s := testServer(t)
	ctx := context.Background()
	s.loadPolicies(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "bollard", Name: "policies"}, Data: map[string]string{
		"team.rego": "package bollard.team\ndeny contains \"no deploys on Fridays\" if input.kind == \"Deployment\"\n"}})
	working := s.gate.Engine()
	if !strings.Contains(strings.Join(working.Modules(), " "), "bollard/policies/team.rego") {
		t.Fatalf("modules %v lack the user's", working.Modules())
	}
	s.loadPolicies(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "bollard", Name: "policies"}, Data: map[string]string{
		"team.rego": "package bollard.team\ndeny contains msg if {\n"}})
	if s.gate.Engine() != working {
		t.Fatal("a module that does not parse replaced the working policy set")
	}
}

// FuzzValidate sends arbitrary bodies to /validate: never a panic, only 200 with a response for
// the request's uid, or 400 with a message.
func FuzzValidate(f *testing.F) {
	seed := seedReviews(f)
	f.Add([]byte(strings.Replace(string(seed), `"replicas":3`, `"replicas":"three"`, 1)))
	f.Add([]byte(strings.Replace(string(seed), `"containers":[`, `"containers":{"x":`, 1)))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","object":{"kind":"CronJob","spec":{"jobTemplate":7}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","object":{"kind":"Pod","metadata":{"annotations":{"bollard.dev/requires-flags":"=,="}}}}}`))
	s := testServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if out := answered(t, body, post(t, s, body, "application/json")); out != nil && !out.Response.Allowed &&
			(out.Response.Result == nil || out.Response.Result.Message == "") {
			t.Error("a denial without a message")
		}
	})
}

// seedReviews adds the recorded UPDATE review, and it as a CREATE, to f's corpus.
func seedReviews(f *testing.F) []byte {
	seed, err := os.ReadFile("testdata/review-update.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(strings.Replace(string(seed), `"UPDATE"`, `"CREATE"`, 1)))
	return seed
}

// answered checks what a fuzzed review got: 400 with a message (nil), or 200 with a response for
// the request's uid (returned); never another status.
func answered(t *testing.T, body []byte, rec *httptest.ResponseRecorder) *admissionv1.AdmissionReview {
	t.Helper()
	switch rec.Code {
	case http.StatusBadRequest:
		if rec.Body.Len() == 0 {
			t.Error("400 without a message")
		}
	case http.StatusOK:
		var in, out admissionv1.AdmissionReview
		_ = json.Unmarshal(body, &in)
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil || in.Request == nil || out.Response.UID != in.Request.UID {
			t.Fatalf("200 with response %q for uid %v", rec.Body, in.Request)
		}
		return &out
	default:
		t.Errorf("status %d: %s", rec.Code, rec.Body)
	}
	return nil
}

// TestReadyOnlyWithEveryPolicy: a server whose policy ConfigMap has not compiled since it started
// is not Ready — /readyz says why, the gauge says so — until a version compiles.
func TestReadyOnlyWithEveryPolicy(t *testing.T) {
	s := testServer(t)
	ctx := context.Background()
	s.setMissing("policy ConfigMap bollard/policies not loaded yet")
	s.loadPolicies(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "bollard", Name: "policies"}, Data: map[string]string{
		"team.rego": "package bollard.team\ndeny contains msg if {\n"}})
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := readyz(); s.Ready() || code != http.StatusServiceUnavailable || !strings.Contains(body, "policy ConfigMap bollard/policies rejected") {
		t.Errorf("with a broken policy ConfigMap: ready %v, /readyz %d %q", s.Ready(), code, body)
	}
	var gauge dto.Metric
	if err := s.metrics.notReady.Write(&gauge); err != nil || gauge.GetGauge().GetValue() != 1 {
		t.Errorf("bollard_webhook_policies_missing = %v (%v)", gauge.GetGauge().GetValue(), err)
	}
	s.loadPolicies(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "bollard", Name: "policies"}, Data: map[string]string{
		"team.rego": "package bollard.team\ndeny contains \"no\" if false\n"}})
	if code, body := readyz(); !s.Ready() || code != http.StatusOK {
		t.Errorf("once it compiles: ready %v, /readyz %d %q", s.Ready(), code, body)
	}
}

// TestDenialEvents: a denial creates a Warning Event "Denied" on the object, saying who and why;
// the same denial repeated (a CD tool retrying) makes no second Event within a minute, and a dry
// run none at all.
func TestDenialEvents(t *testing.T) {
	s := testServer(t)
	body, err := os.ReadFile("testdata/review-update.json")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if rec := post(t, s, body, "application/json"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"allowed":false`) {
			t.Fatalf("want a denial: %d %s", rec.Code, rec.Body)
		}
	}
	dry := strings.Replace(string(body), `"operation":"UPDATE"`, `"operation":"UPDATE","dryRun":true`, 1)
	if dry == string(body) {
		t.Fatal("the review has no operation to mark dry-run")
	}
	post(t, s, []byte(strings.Replace(dry, `"uid":"0b5c1b0e-1"`, `"uid":"0b5c1b0e-2"`, 1)), "application/json")
	var events *corev1.EventList
	deadline := time.Now().Add(5 * time.Second)
	for {
		events, err = s.events.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(events.Items) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // any second Event would have been created by now
	events, _ = s.events.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
	if len(events.Items) != 1 {
		t.Fatalf("%d Events, want 1 for 5 equal denials and a dry run", len(events.Items))
	}
	e := events.Items[0]
	if e.Type != corev1.EventTypeWarning || e.Reason != "Denied" || !strings.Contains(e.Message, "UPDATE by") || !strings.Contains(e.Message, "risky change (DatabaseURL)") {
		t.Errorf("event %s %s %q", e.Type, e.Reason, e.Message)
	}
}

// TestTuneGC: GOGC 400 unless GOGC is set; GOGC and GOMEMLIMIT set by the operator win.
func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "1GiB")
	if gc, mem := TuneGC(); gc != 400 || mem != -1 || debug.SetGCPercent(400) != 400 {
		t.Errorf("TuneGC = %d, %d; want 400 and the memory limit left alone", gc, mem)
	}
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	if gc, _ := TuneGC(); gc != -2 || debug.SetGCPercent(50) != 50 {
		t.Errorf("with GOGC=50 set, TuneGC changed it (%d)", gc)
	}
}
