package reconciler

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden Deployment Logs in testdata/logs")

// TestDeploymentLogGolden: the Deployment Log of each way a change ends, as `bollard log` prints
// it — compared with the files in testdata/logs (go test ./reconciler -run Golden -update rewrites
// them; review the diff).
func TestDeploymentLogGolden(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 30, 14, 5, 0, 0, time.UTC))
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: v1alpha1.ReleaseSpec{Strategy: &v1alpha1.Strategy{Type: "canary", Steps: []int32{10, 50, 100}}}}
	base := func(id int64, status v1alpha1.LogStatus, steps ...v1alpha1.LogStep) v1alpha1.DeploymentLog {
		return v1alpha1.DeploymentLog{ID: id, Started: at, Finished: at, Trigger: "push", Revision: "3f9c2e1a7b6d5c4b3a2918273645546372819a0b",
			Author: "Dev <dev@shop.example>", Message: "web v2", Target: "production (cluster prod-eu, namespace shop)", Environment: "production", Namespace: "shop",
			Strategy:  "canary: canary 10% → canary 50% → promote",
			Artifacts: []string{"registry.shop/web:v2@sha256:9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c"},
			Evidence: []v1alpha1.ArtifactEvidence{{Image: "registry.shop/web:v2", Digest: "sha256:9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c",
				Verified: true, Policy: "shop-images", Authority: "keyless authority ci: https://github.com/shop/web/.github/workflows/release.yml@refs/heads/main (issuer https://token.actions.githubusercontent.com)", Format: "bundle",
				Attestations: []v1alpha1.AttestationEvidence{{Name: "provenance", PredicateType: "https://slsa.dev/provenance/v1",
					Digest: "sha256:4e1f0c9b8a7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f", Signer: "keyless authority ci: https://github.com/shop/web/.github/workflows/release.yml@refs/heads/main (issuer https://token.actions.githubusercontent.com)"}}}},
			Gates: []v1alpha1.LogStep{{Name: "render", Result: "OK", Detail: "3 object(s)"},
				{Name: "pre-flight", Result: "OK", Detail: "1 workloads checked (signatures, freeze, flags, risky changes, schema)"}},
			Steps:  append([]v1alpha1.LogStep{{Name: "apply", Result: "OK", Detail: "canary 10%: 10% asked: 1/10 replicas on the new version = 10%", DurationMillis: 180}}, steps...),
			Status: status, Updated: 1}
	}
	canary10 := v1alpha1.LogStep{Name: "canary 10% prove", Result: "OK", Detail: "GET http://web.shop/healthz?version=v2: 200", DurationMillis: 40}
	breach := v1alpha1.LogStep{Name: "canary 10% SLO guard (1m0s)", Result: "FAIL", DurationMillis: 12000,
		Detail: "10% asked: 1/10 replicas on the new version = 10%; errors 4.2% > 1% after 12 s: query errors{version=\"v2\"}"}
	cases := map[string]v1alpha1.DeploymentLog{
		"success": base(7, "SUCCESS", canary10,
			v1alpha1.LogStep{Name: "canary 10%", Result: "OK", Detail: "10% asked: 1/10 replicas on the new version = 10%; 10/10 Ready; errors 0.1% ≤ 1%: PASS"},
			v1alpha1.LogStep{Name: "canary 50%", Result: "OK", Detail: "50% asked: 5/10 replicas on the new version = 50%; 10/10 Ready; errors 0.2% ≤ 1%: PASS"},
			v1alpha1.LogStep{Name: "promote", Result: "OK", Detail: "100%: the new revision replaces the stable one; canary removed"},
			v1alpha1.LogStep{Name: "health", Result: "OK", Detail: "10/10 Ready in 2.1 s", DurationMillis: 2100},
			v1alpha1.LogStep{Name: "drain", Result: "OK", Detail: "Deployment web: old instances drained (ReplicaSets at 0 pods: web-7d4b9c8f6d)"}),
		"rolled-back": base(8, "ROLLED_BACK", canary10, breach,
			v1alpha1.LogStep{Name: "rollback", Result: "OK", Detail: "to e2eca31" + sourceNote(fromSnapshot), DurationMillis: 310}),
		"rollback-failed": base(9, "ROLLBACK_FAILED", canary10, breach,
			v1alpha1.LogStep{Name: "rollback", Result: "FAIL", Detail: "to e2eca31" + sourceNote(fromGit) + ": revision e2eca31 has no snapshot and git failed: repository not found (attempt 3; next in 8s)"}),
		"halted": base(10, "HALTED", canary10, breach,
			v1alpha1.LogStep{Name: "halt", Result: "OK", Detail: "rollbackOnFailure is off: canary at 0 % (the stable version whole, the canary kept at 0 replicas)", DurationMillis: 150}),
		"refused": {ID: 11, Started: at, Finished: at, Trigger: "push", Revision: "5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b", Message: "web v3", Target: "namespace shop",
			Gates: []v1alpha1.LogStep{{Name: "render", Result: "OK", Detail: "3 object(s)"},
				{Name: "pre-flight", Result: "FAIL", Detail: "Deployment web (web.yaml): deploy inside freeze window code-freeze of DeployPolicy retail until 2026-11-30 18:00 CET"}},
			Status: "REFUSED"},
		// Verification off and an image no policy matches: never "verified".
		"not-verified": {ID: 12, Started: at, Finished: at, Trigger: "create", Revision: "5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b", Target: "namespace shop", Namespace: "shop",
			Strategy: "rolling: rollout",
			Evidence: []v1alpha1.ArtifactEvidence{{Image: "registry.shop/web:v3", Reason: "verification is off (--verify-images=false)"},
				{Image: "registry.shop/sidecar:1.2", Digest: "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", Policy: "shop-images", Reason: "enforce mode: no signatures found"}},
			Gates:  []v1alpha1.LogStep{{Name: "pre-flight", Result: "OK", Detail: "1 workloads checked (freeze, flags, risky changes, schema, signatures)"}},
			Steps:  []v1alpha1.LogStep{{Name: "apply", Result: "OK", Detail: "1 created, 0 updated, 0 pruned (revision 5a4b3c2)"}, {Name: "health", Result: "OK", Detail: "1/1 Ready"}},
			Status: "SUCCESS", Created: 1},
		// A promotion: production deploys the digests staging verified, and links its record.
		"promoted": func() v1alpha1.DeploymentLog {
			l := base(13, "SUCCESS", v1alpha1.LogStep{Name: "health", Result: "OK", Detail: "10/10 Ready in 2.1 s", DurationMillis: 2100})
			l.Trigger = "manual"
			l.PromotedFrom = &v1alpha1.RecordRef{Namespace: "shop-staging", Name: "web-1b2c3d4e-7", Release: "web", ID: 7, Environment: "staging", Revision: "3f9c2e1a7b6d5c4b3a2918273645546372819a0b"}
			l.Gates = []v1alpha1.LogStep{l.Gates[0], {Name: "promotion", Result: "OK", Detail: "from staging (namespace shop-staging), Release web, Deployment Log #7 (revision 3f9c2e1, DeploymentRecord web-1b2c3d4e-7): 1 digest(s) verified there and deployed with SUCCESS"}, l.Gates[1]}
			return l
		}(),
		// A log kept before evidence and strategy were recorded prints as it did, and says
		// where the strategy comes from.
		"legacy": {ID: 3, Started: at, Finished: at, Trigger: "push", Revision: "5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b", Target: "namespace shop",
			Artifacts: []string{"registry.shop/web:v1"}, Steps: []v1alpha1.LogStep{{Name: "apply", Result: "OK"}}, Status: "SUCCESS"},
	}
	for name, l := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			WriteLog(&buf, rel, l)
			path := filepath.Join("testdata", "logs", name+".md")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("Deployment Log %s differs from %s:\n%s", name, path, buf.String())
			}
		})
	}
}
