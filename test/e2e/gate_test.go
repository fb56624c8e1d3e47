package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/notify"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook"
)

// These tests run bollard's admission server as a local process, registered with the real API
// server by URL, and change workloads through the API server as kubectl would.

// startGate serves the gate for namespace ns and returns once the API server calls it, with the
// test server (for /metrics).
func startGate(t *testing.T, env *kubetest.Env, ns, policyConfigMap string) *httptest.Server {
	t.Helper()
	return startGateWith(t, env, ns, webhook.Config{PolicyConfigMap: policyConfigMap})
}

// startGateWith is startGate with a Config (REST and Log are filled in).
func startGateWith(t *testing.T, env *kubetest.Env, ns string, cfg webhook.Config) *httptest.Server {
	t.Helper()
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg.REST, cfg.Log = env.Config, testr.New(t)
	server, err := webhook.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(server.Handler())
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	env.Eventually(t, 30*time.Second, "the gate's caches to sync", func(context.Context) (bool, error) { return server.Ready(), nil })
	hook := webhook.ValidatingWebhook(ts.URL+"/validate", kubetest.CABundle(ts), "", admissionregistrationv1.Fail, 10, cfg.WorkloadKinds...)
	// Only this test's namespace: DeployPolicies are cluster-scoped and tests run in parallel.
	// (For the Namespace objects the opt-out guard sees, that is the test's namespace itself.)
	hook.NamespaceSelector = nil
	channels := webhook.ChannelWebhook(ts.URL+"/validate", kubetest.CABundle(ts), "", admissionregistrationv1.Fail, 10)
	channels.NamespaceSelector = nil
	env.RegisterValidatingWebhook(t, ns, hook, webhook.OptOutWebhook(ts.URL+"/validate", kubetest.CABundle(ts), 10), channels)
	return ts
}

// as returns a client that acts as user (in groups), allowed to edit workloads in ns.
func as(t *testing.T, env *kubetest.Env, ns, user string, groups ...string) (client.Client, *warnings) {
	t.Helper()
	ctx := context.Background()
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "edit-", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}
	if err := env.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	w := &warnings{}
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// warnings collects the admission warnings the API server relays.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) contains(sub string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func createPolicy(t *testing.T, env *kubetest.Env, p *v1alpha1.DeployPolicy) {
	t.Helper()
	if err := env.Client.Create(context.Background(), p); err != nil {
		t.Fatalf("create DeployPolicy: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })
}

// alwaysFrozen is a deny window active at any time: it starts every minute and lasts an hour.
func alwaysFrozen() v1alpha1.FreezeWindow {
	return v1alpha1.FreezeWindow{Name: "code-freeze", Schedule: "* * * * *", Duration: metav1.Duration{Duration: time.Hour}, TimeZone: "Europe/Berlin"}
}

// update changes the latest version of the Deployment as c (the controller keeps writing its
// status, so a copy read earlier would conflict).
func update(ctx context.Context, env *kubetest.Env, c client.Client, key client.ObjectKey, change func(*appsv1.Deployment), opts ...client.UpdateOption) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var d appsv1.Deployment
		if err := env.Client.Get(ctx, key, &d); err != nil {
			return err
		}
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		change(&d)
		return c.Update(ctx, &d, opts...)
	})
}

// waitGateSees waits until the gate applies what changed: a dry-run of change is denied with denial.
func waitGateSees(t *testing.T, env *kubetest.Env, key client.ObjectKey, change func(*appsv1.Deployment), denial string) {
	t.Helper()
	env.Eventually(t, 30*time.Second, "the gate to apply the new DeployPolicy", func(ctx context.Context) (bool, error) {
		err := update(ctx, env, env.Client, key, change, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), denial) {
			return true, nil
		}
		return false, fmt.Errorf("dry-run update: %v", err)
	})
}

func setImage(image string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image }
}

func TestGateFreezeWindowAndBreakGlass(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	recv, targetsFile := startNotificationReceiver(t, []byte("gate-key"), notify.BreakGlass)
	targets, err := notify.Load(targetsFile)
	if err != nil {
		t.Fatal(err)
	}
	notifier := notify.New(targets, notify.Options{Source: "webhook"})
	nctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go notifier.Run(nctx)
	gate := startGateWith(t, env, ns, webhook.Config{Notifier: notifier})

	d := deployment(ns, "registry.local/web:v1", 2)
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatalf("create before any policy: %v", err)
	}
	createPolicy(t, env, &v1alpha1.DeployPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-freeze"},
		Spec: v1alpha1.DeployPolicySpec{
			Scope:         v1alpha1.Scope{Namespaces: []string{ns}},
			FreezeWindows: []v1alpha1.FreezeWindow{alwaysFrozen()},
			BreakGlass:    &v1alpha1.BreakGlass{Groups: []string{"sre"}},
		},
	})
	key := client.ObjectKeyFromObject(d)
	waitGateSees(t, env, key, setImage("registry.local/web:probe"), "frozen by window `code-freeze`")

	dev, _ := as(t, env, ns, "dev@example.com", "developers")
	oncall, oncallWarnings := as(t, env, ns, "oncall@example.com", "sre")

	t.Run("update inside the window is denied", func(t *testing.T) {
		err := update(ctx, env, dev, key, setImage("registry.local/web:v2"))
		want := fmt.Sprintf("deploys are frozen by window `code-freeze` of DeployPolicy %s-freeze (", ns)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Europe/Berlin, ends in") ||
			!strings.Contains(err.Error(), "add bollard.dev/break-glass with a reason if you are on-call") {
			t.Fatalf("err = %v, want a denial containing %q", err, want)
		}
	})

	t.Run("break-glass by a user the policy does not name is denied", func(t *testing.T) {
		err := update(ctx, env, dev, key, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "registry.local/web:v2"
			d.Annotations[v1alpha1.AnnotationBreakGlass] = "INC-1 I really want to"
		})
		if err == nil || !strings.Contains(err.Error(), "break-glass is not allowed for dev@example.com") {
			t.Fatalf("err = %v, want the break-glass refusal", err)
		}
	})

	t.Run("scale subresource inside the window is admitted", func(t *testing.T) {
		scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
		if _, err := env.Clientset.AppsV1().Deployments(ns).UpdateScale(ctx, d.Name, scale, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("scale during a freeze: %v", err)
		}
	})

	t.Run("break-glass by the on-call group is admitted, warned and recorded", func(t *testing.T) {
		if err := update(ctx, env, oncall, key, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "registry.local/web:v2-hotfix"
			d.Annotations[v1alpha1.AnnotationBreakGlass] = "INC-7 checkout down"
		}); err != nil {
			t.Fatalf("break-glass update: %v", err)
		}
		if !oncallWarnings.contains(`break-glass by oncall@example.com inside a freeze, reason "INC-7 checkout down"`) {
			t.Errorf("warnings %q lack the break-glass warning", oncallWarnings.list)
		}
		waitEvent(t, env, ns, "BreakGlass", d.Name, "oncall@example.com", "INC-7 checkout down")
		n := recv.wait(t, env, "dev.bollard.break-glass", func(d notify.Data) bool { return d.Details["reason"] == "INC-7 checkout down" })
		if n.Details["user"] != "oncall@example.com" || n.Details["policies"] != ns+"-freeze" || !strings.Contains(n.Summary, "Deployment "+ns+"/web") {
			t.Errorf("break-glass notification %+v", n)
		}
		resp, err := gate.Client().Get(gate.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		metrics, _ := io.ReadAll(resp.Body)
		// At least one: a write retried after a conflict is admitted (and counted) again.
		if want := regexp.MustCompile(`bollard_break_glass_total\{policy="` + ns + `-freeze"\} [1-9]`); !want.Match(metrics) {
			t.Errorf("/metrics lacks %s", want)
		}
	})
}

func TestGateRiskyChangesAndSchema(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	startGate(t, env, ns, "")

	schemaCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "db-schema", Namespace: ns}, Data: map[string]string{"version": "42"}}
	if err := env.Client.Create(ctx, schemaCM); err != nil {
		t.Fatal(err)
	}
	d := deployment(ns, "registry.local/orders:v1", 1)
	d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DATABASE_URL", Value: "postgres://orders:hunter2@db-a:5432/orders"}}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	createPolicy(t, env, &v1alpha1.DeployPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-risky"},
		Spec: v1alpha1.DeployPolicySpec{
			Scope:        v1alpha1.Scope{Namespaces: []string{ns}},
			RiskyChanges: &v1alpha1.RiskyChangePolicy{Rules: []v1alpha1.RiskRule{{Class: v1alpha1.ChangeDatabaseURL, Action: v1alpha1.ActionDeny}}},
			Schema:       &v1alpha1.SchemaPolicy{Source: v1alpha1.ConfigMapKeyRef{Namespace: ns, Name: "db-schema", Key: "version"}},
		},
	})
	user, userWarnings := as(t, env, ns, "dev@example.com", "developers")
	key := client.ObjectKeyFromObject(d)
	newDB := func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Env[0].Value = "postgres://orders:hunter2@db-b:5432/orders"
	}
	waitGateSees(t, env, key, newDB, "risky change (DatabaseURL)")

	t.Run("DATABASE_URL change is denied without approval, and names no value", func(t *testing.T) {
		err := update(ctx, env, user, key, newDB)
		if err == nil || !strings.Contains(err.Error(), "risky change (DatabaseURL) at spec.template.spec.containers[web].env[DATABASE_URL]: database URL value changed") {
			t.Fatalf("err = %v, want the risky-change denial", err)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "db-b") {
			t.Errorf("the denial shows the database URL: %v", err)
		}
	})

	t.Run("approved DATABASE_URL change is admitted with a warning", func(t *testing.T) {
		if err := update(ctx, env, user, key, func(d *appsv1.Deployment) {
			newDB(d)
			d.Annotations[v1alpha1.AnnotationApprovedChange] = "CHG-1234"
		}); err != nil {
			t.Fatalf("approved change: %v", err)
		}
		if !userWarnings.contains("database URL value changed; approved by CHG-1234") {
			t.Errorf("warnings %q lack the approval", userWarnings.list)
		}
	})

	t.Run("a workload needing schema 43 while 42 is applied is denied", func(t *testing.T) {
		err := update(ctx, env, user, key, needsSchema43)
		want := fmt.Sprintf("Deployment %s needs database schema 43, but ConfigMap %s/db-schema key version records 42 as applied", d.Name, ns)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want %q", err, want)
		}
	})

	t.Run("after the migration records 43 the same deploy is admitted", func(t *testing.T) {
		schemaCM.Data["version"] = "43"
		if err := env.Client.Update(ctx, schemaCM); err != nil {
			t.Fatal(err)
		}
		env.Eventually(t, 30*time.Second, "the deploy to be admitted", func(ctx context.Context) (bool, error) {
			err := update(ctx, env, user, key, needsSchema43)
			return err == nil, err
		})
	})
}

func needsSchema43(d *appsv1.Deployment) {
	d.Spec.Template.Spec.Containers[0].Image = "registry.local/orders:v2"
	d.Annotations[v1alpha1.AnnotationSchemaVersion] = "43"
}

func TestGateUserPolicyModules(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	policies := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bollard-policies", Namespace: ns}, Data: map[string]string{
		"team.rego": "package bollard.team\n\ndeny contains msg if {\n\tnot input.labels.team\n\tmsg := sprintf(\"%s %s needs a team label\", [input.kind, input.name])\n}\n",
	}}
	if err := env.Client.Create(ctx, policies); err != nil {
		t.Fatal(err)
	}
	startGate(t, env, ns, ns+"/bollard-policies")

	err := env.Client.Create(ctx, deployment(ns, "registry.local/web:v1", 1))
	if err == nil || !strings.Contains(err.Error(), "Deployment web needs a team label") {
		t.Fatalf("err = %v, want the user rule's denial", err)
	}

	policies.Data["team.rego"] = "package bollard.team\n\ndeny contains msg if {\n" // does not parse
	if err := env.Client.Update(ctx, policies); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, env, ns, "PolicyRejected", "bollard-policies", "team.rego")
	err = env.Client.Create(ctx, deployment(ns, "registry.local/web:v1", 1))
	if err == nil || !strings.Contains(err.Error(), "needs a team label") {
		t.Fatalf("after a broken update: err = %v, want the working rule to stay in force", err)
	}

	// A restart now (a rolling update of the webhook) has no working copy of the team's rules:
	// the new instance stays not Ready and says why, rather than serving without them.
	rctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	restarted, err := webhook.New(rctx, webhook.Config{REST: env.Config, Log: testr.New(t), PolicyConfigMap: ns + "/bollard-policies"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	rec := httptest.NewRecorder()
	restarted.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if restarted.Ready() || rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "policy ConfigMap "+ns+"/bollard-policies rejected") {
		t.Errorf("restarted with a broken policy ConfigMap: ready %v, /readyz %d %q", restarted.Ready(), rec.Code, rec.Body)
	}
	policies.Data["team.rego"] = "package bollard.team\n\ndeny contains \"frozen by the team\" if false\n"
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur corev1.ConfigMap
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(policies), &cur); err != nil {
			return err
		}
		cur.Data = policies.Data
		return env.Client.Update(ctx, &cur)
	}); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, 30*time.Second, "the restarted webhook Ready once the ConfigMap compiles", func(context.Context) (bool, error) { return restarted.Ready(), nil })
}

// waitEvent waits for an Event with reason about object whose message contains every part.
func waitEvent(t *testing.T, env *kubetest.Env, ns, reason, object string, parts ...string) {
	t.Helper()
	env.Eventually(t, 30*time.Second, "a "+reason+" Event on "+object, func(ctx context.Context) (bool, error) {
		var events corev1.EventList
		if err := env.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return false, err
		}
		var seen []string
		for _, e := range events.Items {
			if e.Reason == reason && e.InvolvedObject.Name == object && containsAll(e.Message, parts) {
				return true, nil
			}
			if e.InvolvedObject.Name == object {
				seen = append(seen, e.Reason+": "+e.Message)
			}
		}
		return false, fmt.Errorf("%d events, none %s on %s with %q; on it: %q", len(events.Items), reason, object, parts, seen)
	})
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestOptOutLabelIsGuarded: the label that turns the gate off for a namespace may be set, changed
// or removed only by the opt-out admins (system:masters by default), whatever RBAC allows.
func TestOptOutLabelIsGuarded(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	startGate(t, env, ns, "")

	// mallory may update namespaces as far as RBAC goes.
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-namespace-editor"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "update", "patch"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-namespace-editor"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "mallory"}}}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	mallory, _ := as(t, env, ns, "mallory")
	admin, adminWarnings := as(t, env, ns, "alice", "system:masters")
	label := func(c client.Client, key, value string) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var n corev1.Namespace
			if err := c.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
				return err
			}
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			if value == "" {
				delete(n.Labels, key)
			} else {
				n.Labels[key] = value
			}
			return c.Update(ctx, &n)
		})
	}
	denial := "label bollard.dev/ignore on namespace " + ns + " turns the deploy gate off there; only group system:masters may set, change or remove it, not mallory"
	if err := label(mallory, "bollard.dev/ignore", "true"); err == nil || !strings.Contains(err.Error(), denial) {
		t.Errorf("mallory sets the opt-out label: %v, want %q", err, denial)
	}
	if err := label(mallory, "team", "shop"); err != nil {
		t.Errorf("mallory changes another label: %v", err)
	}
	if err := label(admin, "bollard.dev/ignore", "true"); err != nil {
		t.Fatalf("an opt-out admin sets the label: %v", err)
	}
	if !adminWarnings.contains("the deploy gate is off there") {
		t.Errorf("the admin's change carries no warning: %v", adminWarnings.list)
	}
	if err := label(mallory, "bollard.dev/ignore", ""); err == nil || !strings.Contains(err.Error(), denial) {
		t.Errorf("mallory removes the opt-out label: %v, want %q", err, denial)
	}
	if err := label(admin, "bollard.dev/ignore", ""); err != nil {
		t.Errorf("an opt-out admin removes the label: %v", err)
	}
}
