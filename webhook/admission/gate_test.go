package admission

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"bollard.dev/bollard/api/v1alpha1"
)

var berlin, _ = time.LoadLocation("Europe/Berlin")

// insideFreeze is Monday 30 November 2026 03:47 in Berlin, 2h13m before the black-friday window ends.
var insideFreeze = time.Date(2026, 11, 30, 3, 47, 0, 0, berlin)

const flagDoc = `{"flags": {
  "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
  "deploy-freeze": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}`

func testCluster() *Objects {
	return &Objects{
		Policies: []v1alpha1.DeployPolicy{{
			ObjectMeta: metav1.ObjectMeta{Name: "retail"},
			Spec: v1alpha1.DeployPolicySpec{
				Scope: v1alpha1.Scope{Environments: []string{"production"}},
				FreezeWindows: []v1alpha1.FreezeWindow{{
					Name: "black-friday", Schedule: "0 0 * * FRI", Duration: metav1.Duration{Duration: 78 * time.Hour}, TimeZone: "Europe/Berlin",
				}},
				BreakGlass: &v1alpha1.BreakGlass{Users: []string{"oncall@shop"}, Groups: []string{"sre"}},
				Flags:      &v1alpha1.FlagPolicy{Source: v1alpha1.ConfigMapKeyRef{Namespace: "flags", Name: "flagd", Key: "flags.json"}, FreezeFlag: "deploy-freeze"},
				RiskyChanges: &v1alpha1.RiskyChangePolicy{Rules: []v1alpha1.RiskRule{
					{Class: v1alpha1.ChangeDatabaseURL, Action: v1alpha1.ActionDeny},
				}},
				Schema: &v1alpha1.SchemaPolicy{Source: v1alpha1.ConfigMapKeyRef{Namespace: "shop", Name: "db-schema", Key: "version"}},
			},
		}},
		Namespaces: map[string]map[string]string{"shop": {v1alpha1.LabelEnvironment: "production"}, "dev": {v1alpha1.LabelEnvironment: "staging"}},
		ConfigMaps: map[types.NamespacedName]*corev1.ConfigMap{
			{Namespace: "flags", Name: "flagd"}:    {Data: map[string]string{"flags.json": flagDoc}},
			{Namespace: "shop", Name: "db-schema"}: {Data: map[string]string{"version": "42"}},
		},
	}
}

func deployment(ns string, mutate ...func(*appsv1.Deployment)) *unstructured.Unstructured {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(3)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "registry.local/web@sha256:" + strings.Repeat("a", 64),
				Env: []corev1.EnvVar{{Name: "DATABASE_URL", Value: "postgres://app:pw@db:5432/shop"}},
			}}}},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		panic(err)
	}
	return &unstructured.Unstructured{Object: obj}
}

func pod(ns, image string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "web", "namespace": ns},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "web", "image": image}}},
	}}
}

func newImage(d *appsv1.Deployment) {
	d.Spec.Template.Spec.Containers[0].Image = "registry.local/web@sha256:" + strings.Repeat("b", 64)
}

func annotate(key, value string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[key] = value
	}
}

func TestReview(t *testing.T) {
	dev := User{Username: "dev@shop", Groups: []string{"developers"}}
	sre := User{Username: "ann@shop", Groups: []string{"sre"}}
	after := time.Date(2026, 12, 1, 12, 0, 0, 0, berlin)
	cases := []struct {
		name    string
		req     Request
		allowed bool
		reason  string // a substring of one reason
		warning string // a substring of one warning
		exempt  bool
		glass   bool
	}{
		{name: "update inside the freeze is denied",
			req:     Request{Operation: "UPDATE", User: dev, Now: insideFreeze, OldObject: deployment("shop"), Object: deployment("shop", newImage)},
			allowed: false,
			reason:  "deploys to production are frozen by window `black-friday` of DeployPolicy retail (Fri 00:00–Mon 06:00 Europe/Berlin, ends in 2h13m); add bollard.dev/break-glass with a reason if you are on-call"},
		{name: "create inside the freeze is denied",
			req:     Request{Operation: "CREATE", User: dev, Now: insideFreeze, Object: deployment("shop")},
			allowed: false, reason: "frozen by window `black-friday`"},
		{name: "staging is not frozen",
			req:     Request{Operation: "UPDATE", User: dev, Now: insideFreeze, OldObject: deployment("dev"), Object: deployment("dev", newImage)},
			allowed: true},
		{name: "after the window",
			req:     Request{Operation: "UPDATE", User: dev, Now: after, OldObject: deployment("shop"), Object: deployment("shop", newImage)},
			allowed: true},
		{name: "break-glass by an allowed group",
			req: Request{Operation: "UPDATE", User: sre, Now: insideFreeze, OldObject: deployment("shop"),
				Object: deployment("shop", newImage, annotate(v1alpha1.AnnotationBreakGlass, "INC-7 checkout down"))},
			allowed: true, warning: `break-glass by ann@shop inside a freeze, reason "INC-7 checkout down"`, glass: true},
		{name: "break-glass by another user",
			req: Request{Operation: "UPDATE", User: dev, Now: insideFreeze, OldObject: deployment("shop"),
				Object: deployment("shop", newImage, annotate(v1alpha1.AnnotationBreakGlass, "I want to"))},
			allowed: false, reason: "break-glass is not allowed for dev@shop"},
		{name: "replicas-only update inside the freeze is not a deploy",
			req: Request{Operation: "UPDATE", User: dev, Now: insideFreeze, OldObject: deployment("shop"),
				Object: deployment("shop", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(5)) })},
			allowed: true},
		{name: "a Pod's image update inside the freeze is a deploy",
			req:     Request{Operation: "UPDATE", User: dev, Now: insideFreeze, OldObject: pod("shop", "web:v1"), Object: pod("shop", "web:v2")},
			allowed: false, reason: "frozen by window `black-friday`"},
		{name: "scale subresource is exempt",
			req:     Request{Operation: "UPDATE", SubResource: "scale", User: dev, Now: insideFreeze, Object: deployment("shop")},
			allowed: true, exempt: true},
		{name: "ReplicaSet made by a Deployment is exempt",
			req: Request{Operation: "CREATE", User: User{Username: "system:serviceaccount:kube-system:deployment-controller"}, Now: insideFreeze,
				Object: func() *unstructured.Unstructured {
					u := deployment("shop")
					u.SetKind("ReplicaSet")
					u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "u1", Controller: ptr.To(true)}})
					return u
				}()},
			allowed: true, exempt: true},
		{name: "a Pod the replicaset-controller makes is exempt",
			req:     Request{Operation: "CREATE", User: User{Username: "system:serviceaccount:kube-system:replicaset-controller"}, Now: insideFreeze, Object: pod("shop", "web:v2")},
			allowed: true, exempt: true},
		{name: "a Pod claiming a controller owner, written by a person, is checked",
			req: Request{Operation: "CREATE", User: dev, Now: insideFreeze,
				Object: func() *unstructured.Unstructured {
					u := pod("shop", "web:v2")
					u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "mine", UID: "u2", Controller: ptr.To(true)}})
					return u
				}()},
			allowed: false, reason: "black-friday"},
		{name: "a controller's identity exempts only the kinds it makes",
			req:     Request{Operation: "CREATE", User: User{Username: "system:serviceaccount:kube-system:replicaset-controller"}, Now: insideFreeze, Object: deployment("shop")},
			allowed: false, reason: "black-friday"},
		{name: "a production Deployment labelled dev is still frozen",
			req: Request{Operation: "UPDATE", User: dev, Now: insideFreeze, OldObject: deployment("shop"),
				Object: deployment("shop", newImage, func(d *appsv1.Deployment) { d.Labels = map[string]string{v1alpha1.LabelEnvironment: "dev"} })},
			allowed: false, reason: "black-friday"},
		{name: "kubectl debug inside a freeze is a change like any other",
			req: Request{Operation: "UPDATE", SubResource: "ephemeralcontainers", User: dev, Now: insideFreeze, OldObject: pod("shop", "web:v1"),
				Object: func() *unstructured.Unstructured {
					u := pod("shop", "web:v1")
					_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"name": "debug", "image": "busybox"}}, "spec", "ephemeralContainers")
					return u
				}()},
			allowed: false, reason: "black-friday"},
		{name: "database URL change denied by rule",
			req: Request{Operation: "UPDATE", User: dev, Now: after, OldObject: deployment("shop"),
				Object: deployment("shop", func(d *appsv1.Deployment) {
					d.Spec.Template.Spec.Containers[0].Env[0].Value = "postgres://app:pw@db2:5432/shop"
				})},
			allowed: false, reason: "risky change (DatabaseURL) at spec.template.spec.containers[web].env[DATABASE_URL]: database URL value changed; add bollard.dev/approved-change"},
		{name: "database URL change approved",
			req: Request{Operation: "UPDATE", User: dev, Now: after, OldObject: deployment("shop"),
				Object: deployment("shop", annotate(v1alpha1.AnnotationApprovedChange, "CHG-42"), func(d *appsv1.Deployment) {
					d.Spec.Template.Spec.Containers[0].Env[0].Value = "postgres://app:pw@db2:5432/shop"
				})},
			allowed: true, warning: "approved by CHG-42"},
		{name: "approval reused for the next change",
			req: Request{Operation: "UPDATE", User: dev, Now: after, OldObject: deployment("shop", annotate(v1alpha1.AnnotationApprovedChange, "CHG-42")),
				Object: deployment("shop", annotate(v1alpha1.AnnotationApprovedChange, "CHG-42"), func(d *appsv1.Deployment) {
					d.Spec.Template.Spec.Containers[0].Env[0].Value = "postgres://app:pw@db3:5432/shop"
				})},
			allowed: false, reason: "approval CHG-42 was used for an earlier change"},
		{name: "scale to zero warns",
			req: Request{Operation: "UPDATE", User: dev, Now: after, OldObject: deployment("shop"),
				Object: deployment("shop", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(0)) })},
			allowed: true, warning: "risky change (ScaleToZero) at spec.replicas: replicas set to 0 (was 3)"},
		{name: "flag requirement not met",
			req:     Request{Operation: "CREATE", User: dev, Now: after, Object: deployment("shop", annotate(v1alpha1.AnnotationRequiresFlags, "new-checkout=off"))},
			allowed: false, reason: "Deployment web requires feature flag new-checkout=off, but it is on in ConfigMap flags/flagd key flags.json (DeployPolicy retail)"},
		{name: "flag requirement met",
			req:     Request{Operation: "CREATE", User: dev, Now: after, Object: deployment("shop", annotate(v1alpha1.AnnotationRequiresFlags, "new-checkout=on"))},
			allowed: true},
		{name: "malformed flag requirement",
			req:     Request{Operation: "CREATE", User: dev, Now: after, Object: deployment("shop", annotate(v1alpha1.AnnotationRequiresFlags, "new-checkout"))},
			allowed: false, reason: "bollard.dev/requires-flags: flag requirement \"new-checkout\": want name=state"},
		{name: "schema not yet applied",
			req:     Request{Operation: "CREATE", User: dev, Now: after, Object: deployment("shop", annotate(v1alpha1.AnnotationSchemaVersion, "43"))},
			allowed: false, reason: "Deployment web needs database schema 43, but ConfigMap shop/db-schema key version records 42 as applied"},
		{name: "schema applied",
			req:     Request{Operation: "CREATE", User: dev, Now: after, Object: deployment("shop", annotate(v1alpha1.AnnotationSchemaVersion, "42"))},
			allowed: true},
		{name: "schema needed where no policy records it",
			req:     Request{Operation: "CREATE", User: dev, Now: after, Object: deployment("dev", annotate(v1alpha1.AnnotationSchemaVersion, "42"))},
			allowed: false, reason: "no DeployPolicy that applies to it says where the applied version is recorded"},
	}
	engine, err := NewEngine(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	gate := NewGate(testCluster(), engine)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := gate.Review(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v; reasons %q, warnings %q", d.Allowed, tc.allowed, d.Reasons, d.Warnings)
			}
			if tc.reason != "" && !containsSub(d.Reasons, tc.reason) {
				t.Errorf("reasons %q lack %q", d.Reasons, tc.reason)
			}
			if tc.allowed && len(d.Reasons) > 0 {
				t.Errorf("allowed with reasons %q", d.Reasons)
			}
			if tc.warning != "" && !containsSub(d.Warnings, tc.warning) {
				t.Errorf("warnings %q lack %q", d.Warnings, tc.warning)
			}
			if (d.Exempt != "") != tc.exempt {
				t.Errorf("exempt = %q, want exempt %v", d.Exempt, tc.exempt)
			}
			if (d.BreakGlass != nil) != tc.glass {
				t.Errorf("break-glass record = %+v, want one: %v", d.BreakGlass, tc.glass)
			}
			for _, m := range append(d.Reasons, d.Warnings...) {
				if strings.Contains(m, "app:pw@") {
					t.Errorf("a message shows a database URL: %q", m)
				}
			}
		})
	}
}

func TestFreezeFlagFreezes(t *testing.T) {
	cluster := testCluster()
	cluster.ConfigMaps[types.NamespacedName{Namespace: "flags", Name: "flagd"}] = &corev1.ConfigMap{Data: map[string]string{
		"flags.json": strings.Replace(flagDoc, `"defaultVariant": "off"`, `"defaultVariant": "on"`, 1)}}
	engine, err := NewEngine(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewGate(cluster, engine).Review(context.Background(), Request{Operation: "CREATE", Now: time.Date(2026, 12, 1, 12, 0, 0, 0, berlin),
		User: User{Username: "dev"}, Object: deployment("shop")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || !containsSub(d.Reasons, "deploys are frozen by feature flag deploy-freeze in ConfigMap flags/flagd key flags.json") {
		t.Errorf("decision %+v, want a freeze-flag denial", d)
	}
}

func TestUserModules(t *testing.T) {
	ctx := context.Background()
	engine, err := NewEngine(ctx, map[string]string{"team.rego": `package bollard.team
deny contains msg if {
	input.kind == "Deployment"
	not input.labels.team
	msg := sprintf("%s %s has no team label", [input.kind, input.name])
}`})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewGate(testCluster(), engine).Review(ctx, Request{Operation: "CREATE", Now: time.Date(2026, 12, 1, 12, 0, 0, 0, berlin), Object: deployment("dev")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || !containsSub(d.Reasons, "Deployment web has no team label") {
		t.Errorf("decision %+v, want the user rule's denial", d)
	}

	for name, tc := range map[string]struct{ src, want string }{
		"syntax":  {"package bollard.x\ndeny contains msg if {", "policy module bad.rego"},
		"package": {"package other\ndeny contains 1 if true", "package other is not under bollard"},
		"compile": {"package bollard.x\ndeny contains msg if { msg := undefined_fn(1) }", "compile policies"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewEngine(ctx, map[string]string{"bad.rego": tc.src})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewEngine = %v, want %q", err, tc.want)
			}
		})
	}
}

func containsSub(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// FuzzNewEngine compiles arbitrary user modules: an error or an engine, never a panic.
func FuzzNewEngine(f *testing.F) {
	f.Add("package bollard.team\ndeny contains msg if {\n\tnot input.labels.team\n\tmsg := \"no team\"\n}\n")
	f.Add("package bollard.x\ndeny contains msg if {")
	f.Add("package other\nallow := true")
	f.Add("")
	f.Fuzz(func(t *testing.T, src string) {
		e, err := NewEngine(context.Background(), map[string]string{"user.rego": src})
		if err == nil && e == nil {
			t.Fatal("no engine and no error")
		}
		if err != nil && !strings.Contains(err.Error(), "user.rego") && !strings.Contains(err.Error(), "compile policies") {
			t.Errorf("error %q does not name the module", err)
		}
	})
}
