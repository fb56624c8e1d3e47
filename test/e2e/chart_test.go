package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/test/charttest"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook"
	"bollard.dev/bollard/webhook/workload"
)

// chartDir is bollard's Helm chart.
const chartDir = "../../charts/bollard"

// TestChartObjectsAreAccepted renders the chart and has the real API server accept every object
// (server-side dry run: validated and admitted, not stored — pods are kwok's, so the webhook
// itself is tested as a local process elsewhere).
func TestChartObjectsAreAccepted(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	objs := charttest.Render(t, chartDir, "--namespace", ns, "--set", "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"--set", "daemon.tenants={"+ns+"}")
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if o.GetKind() == "ValidatingWebhookConfiguration" {
			compareWithRegistration(t, o.Object, ns)
		}
		// Create fills the object with the server's answer, defaults included.
		err := env.Client.Create(context.Background(), o.DeepCopy(), client.DryRunAll)
		if apierrors.IsAlreadyExists(err) { // the suite's daemon runs with the chart's RBAC
			err = env.Client.Patch(context.Background(), o.DeepCopy(), client.Apply, client.DryRunAll, client.FieldOwner("e2e"), client.ForceOwnership)
		}
		if err != nil {
			t.Errorf("the API server refuses %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	// The webhook and the daemon each have a Deployment, Service, ServiceAccount, RBAC and a Secret
	// (serving certificate; push receiver key); the daemon's ClusterRoles to impersonate and for
	// the Releases' accounts, and the read-only one aggregated into view/edit/admin (Releases and
	// DeploymentRecords); a tenant its account and two RoleBindings.
	for k, want := range map[string]int{"Deployment": 2, "Service": 2, "ServiceAccount": 3, "ClusterRole": 5, "ClusterRoleBinding": 2,
		"Role": 2, "RoleBinding": 4, "NetworkPolicy": 1, "Secret": 2, "PodDisruptionBudget": 1, "ValidatingWebhookConfiguration": 1, "MutatingWebhookConfiguration": 1} {
		if kinds[k] != want {
			t.Errorf("chart renders %d %s, want %d (all kinds: %v)", kinds[k], k, want, kinds)
		}
	}
}

// TestChartCertManagerMode: with certs.mode=cert-manager the chart's Issuers and Certificates are
// valid cert-manager v1.21 objects (the API server validates them against cert-manager's own
// CRDs), and the webhook's certificate is issued by a CA of its own — the CA, not the serving
// certificate, is what cainjector puts in the webhook configurations, so a renewal changes nothing
// the API server trusts while pods still serve the old certificate.
func TestChartCertManagerMode(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	env.InstallCRDs(t, "testdata/cert-manager-v1.21.2/cert-manager.io_*.yaml")
	objs := charttest.Render(t, chartDir, "--namespace", ns, "--set", "certs.mode=cert-manager", "--show-only", "templates/webhook-tls.yaml")
	byName := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byName[o.GetKind()+"/"+o.GetName()] = o.Unstructured
		if o.GetAPIVersion() == "cert-manager.io/v1" {
			if err := env.Client.Create(context.Background(), o.DeepCopy(), client.DryRunAll); err != nil {
				t.Errorf("cert-manager's CRDs refuse %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
	str := func(o *unstructured.Unstructured, path ...string) string {
		v, _, _ := unstructured.NestedString(o.Object, path...)
		return v
	}
	serving, ca := byName["Certificate/bollard-webhook"], byName["Certificate/bollard-webhook-ca"]
	caIssuer := byName["Issuer/bollard-webhook-ca"]
	if serving == nil || ca == nil || caIssuer == nil {
		t.Fatalf("want a serving Certificate, a CA Certificate and its Issuer; rendered %v", byName)
	}
	isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA")
	if !isCA || str(ca, "spec", "issuerRef", "name") != "bollard-webhook-selfsigned" || str(caIssuer, "spec", "ca", "secretName") != str(ca, "spec", "secretName") ||
		str(serving, "spec", "issuerRef", "name") != "bollard-webhook-ca" || str(serving, "spec", "secretName") != "bollard-webhook-tls" {
		t.Errorf("the serving certificate is not issued by the webhook's own CA: %v", byName)
	}
	for _, kind := range []string{"ValidatingWebhookConfiguration/bollard-gate", "MutatingWebhookConfiguration/bollard-pin"} {
		if got := byName[kind].GetAnnotations()["cert-manager.io/inject-ca-from"]; got != ns+"/bollard-webhook" {
			t.Errorf("%s: inject-ca-from %q, want the serving certificate (its Secret's ca.crt is the CA)", kind, got)
		}
	}
}

// compareWithRegistration keeps the chart's webhook rules and exclusions equal to the ones
// `bollard webhook --register-url` registers.
func compareWithRegistration(t *testing.T, obj map[string]any, ns string) {
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 4 {
		t.Fatalf("chart webhooks: %d, want the gate, the opt-out guard, the policy validation and the channel releases' gate", len(cfg.Webhooks))
	}
	ch, devCh := cfg.Webhooks[3], webhook.ChannelWebhook("https://x/validate", nil, ns, admissionregistrationv1.Fail, 10)
	if ch.Name != devCh.Name || !reflect.DeepEqual(ch.Rules, devCh.Rules) || !reflect.DeepEqual(ch.MatchConditions, devCh.MatchConditions) ||
		!reflect.DeepEqual(ch.NamespaceSelector, devCh.NamespaceSelector) || *ch.FailurePolicy != *devCh.FailurePolicy || *ch.SideEffects != *devCh.SideEffects {
		t.Errorf("chart channel releases' gate differs from the registered one:\nchart %+v\n  dev %+v", ch, devCh)
	}
	pol, devPol := cfg.Webhooks[2], webhook.PolicyWebhook("https://x/validate", nil, 10)
	if pol.Name != devPol.Name || !reflect.DeepEqual(pol.Rules, devPol.Rules) || *pol.FailurePolicy != *devPol.FailurePolicy || *pol.SideEffects != *devPol.SideEffects {
		t.Errorf("chart policy validation differs from the registered one:\nchart %+v\n  dev %+v", pol, devPol)
	}
	chart := cfg.Webhooks[0]
	dev := webhook.ValidatingWebhook("https://x/validate", nil, ns, admissionregistrationv1.Fail, 10, workload.DefaultCustom...)
	same := func(a, b any) bool {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return string(ja) == string(jb)
	}
	guard, devGuard := cfg.Webhooks[1], webhook.OptOutWebhook("https://x/validate", nil, 10)
	if guard.Name != devGuard.Name || !same(guard.Rules, devGuard.Rules) || !reflect.DeepEqual(guard.MatchConditions, devGuard.MatchConditions) ||
		guard.NamespaceSelector != nil && len(guard.NamespaceSelector.MatchExpressions) > 0 || *guard.FailurePolicy != *devGuard.FailurePolicy {
		t.Errorf("chart opt-out guard differs from the registered one:\nchart %+v\n  dev %+v", guard, devGuard)
	}
	if chart.Name != dev.Name || !same(chart.Rules, dev.Rules) || !reflect.DeepEqual(chart.NamespaceSelector, dev.NamespaceSelector) || !reflect.DeepEqual(chart.MatchConditions, dev.MatchConditions) ||
		*chart.SideEffects != *dev.SideEffects || *chart.FailurePolicy != *dev.FailurePolicy || len(chart.ClientConfig.CABundle) == 0 {
		t.Errorf("chart webhook differs from the registered one:\nchart %+v\n  dev %+v", chart, dev)
	}
}

// TestChartSignedImages: one value, signedImages, sets the webhook's and the daemon's signature
// flags alike — by default only signed images (no-match deny); warn for onboarding; off.
func TestChartSignedImages(t *testing.T) {
	t.Parallel()
	for value, want := range map[string][]string{
		"":        {"--verify-images=true", "--no-match-policy=deny"},
		"enforce": {"--verify-images=true", "--no-match-policy=deny"},
		"warn":    {"--verify-images=true", "--no-match-policy=warn"},
		"off":     {"--verify-images=false"},
	} {
		var args []string
		if value != "" {
			args = append(args, "--set", "signedImages="+value)
		}
		objs := charttest.Render(t, chartDir, args...)
		seen := 0
		for _, o := range objs {
			if o.GetKind() != "Deployment" {
				continue
			}
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			c, _ := containers[0].(map[string]any)
			var flags []string
			for _, a := range c["args"].([]any) {
				if s, _ := a.(string); strings.HasPrefix(s, "--verify-images") || strings.HasPrefix(s, "--no-match-policy") {
					flags = append(flags, s)
				}
			}
			if !reflect.DeepEqual(flags, want) {
				t.Errorf("signedImages=%q: %s has %v, want %v", value, o.GetName(), flags, want)
			}
			seen++
		}
		if seen != 2 {
			t.Errorf("signedImages=%q: %d Deployments, want the webhook's and the daemon's", value, seen)
		}
	}
	if out, err := exec.Command(charttest.Helm(t), "template", "bollard", "../../charts/bollard", "--set", "signedImages=maybe").CombinedOutput(); err == nil || !strings.Contains(string(out), `signedImages: "maybe": want enforce, warn or off`) {
		t.Errorf("signedImages=maybe: %v\n%s", err, out)
	}
}

// TestChartFeeds: daemon.feeds.existingClaim gives the daemon --feed-root on that claim, mounted
// writable for its user; without it the daemon keeps no feeds (no flag, no volume).
func TestChartFeeds(t *testing.T) {
	t.Parallel()
	daemon := func(args ...string) (flags []string, mounts, volumes []any, fsGroup int64) {
		for _, o := range charttest.Render(t, chartDir, args...) {
			if o.GetKind() != "Deployment" || !strings.HasSuffix(o.GetName(), "-daemon") {
				continue
			}
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			c, _ := containers[0].(map[string]any)
			for _, a := range c["args"].([]any) {
				if s, _ := a.(string); strings.HasPrefix(s, "--feed-root") {
					flags = append(flags, s)
				}
			}
			mounts, _ = c["volumeMounts"].([]any)
			volumes, _, _ = unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
			fsGroup, _, _ = unstructured.NestedInt64(o.Object, "spec", "template", "spec", "securityContext", "fsGroup")
			return
		}
		t.Fatalf("no daemon Deployment rendered with %v", args)
		return
	}
	flags, mounts, volumes, fsGroup := daemon("--set", "daemon.feeds.existingClaim=shop-feeds")
	if !reflect.DeepEqual(flags, []string{"--feed-root=/var/lib/bollard/feeds"}) || fsGroup != 65532 {
		t.Errorf("feeds on: flags %v, fsGroup %d", flags, fsGroup)
	}
	if want := map[string]any{"name": "feeds", "mountPath": "/var/lib/bollard/feeds"}; !slices.ContainsFunc(mounts, func(m any) bool { return reflect.DeepEqual(m, want) }) {
		t.Errorf("feeds on: mounts %v, want %v", mounts, want)
	}
	if want := map[string]any{"name": "feeds", "persistentVolumeClaim": map[string]any{"claimName": "shop-feeds"}}; !slices.ContainsFunc(volumes, func(v any) bool { return reflect.DeepEqual(v, want) }) {
		t.Errorf("feeds on: volumes %v, want %v", volumes, want)
	}
	flags, mounts, volumes, _ = daemon()
	if len(flags) != 0 || strings.Contains(fmt.Sprint(mounts, volumes), "feeds") {
		t.Errorf("feeds off: flags %v, mounts %v, volumes %v", flags, mounts, volumes)
	}
}
