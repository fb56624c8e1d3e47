package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// cosignBinary is the real cosign CLI that make test builds ($BOLLARD_COSIGN).
func cosignBinary(t *testing.T) string {
	if c := os.Getenv("BOLLARD_COSIGN"); c != "" {
		return c
	}
	c, err := exec.LookPath("cosign")
	if err != nil {
		t.Skip("no cosign CLI: make test builds one and sets BOLLARD_COSIGN")
	}
	return c
}

// dockerRegistry is Debian's docker-registry (CNCF distribution 2.8: no referrers API, so
// cosign v3 bundles land under the sha256-<hex> fallback tag), on a loopback port, stoppable.
type dockerRegistry struct {
	Host string
	*process
}

func startDockerRegistry(t *testing.T) *dockerRegistry {
	t.Helper()
	host := freeAddr(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, "version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host), 0o644); err != nil {
		t.Fatal(err)
	}
	// Its log (every 404 cosign probes for) goes to a file, out of the test output.
	return &dockerRegistry{Host: host, process: startProcess(t, "docker-registry", "apt-get install docker-registry", "http://"+host+"/v2/", "serve", config)}
}

// push writes a random image under repoTag and returns its digest reference.
func (r *dockerRegistry) push(t *testing.T, repoTag string) name.Digest {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	return writeImage(t, r.Host+"/"+repoTag, img)
}

// writeImage writes img under the reference repoTag (host/repository:tag) and returns its
// digest reference.
func writeImage(t *testing.T, repoTag string, img v1.Image) name.Digest {
	t.Helper()
	ref, err := name.ParseReference(repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String())
}

// cosignCLI runs the cosign CLI in dir, offline: no Rekor, no TUF, no Fulcio.
type cosignCLI struct {
	bin, dir string
}

func (c cosignCLI) run(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=bollard-test", "HOME="+c.dir, "TUF_ROOT="+filepath.Join(c.dir, "tuf"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (c cosignCLI) file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCosignCLISignatures: images signed and attested by the real cosign v3 CLI, in a real
// registry (Debian's docker-registry), in every form cosign writes offline — classic signature,
// Sigstore bundle (fallback tag), a certificate from a private CA (keyless), and an SLSA
// attestation — decided by the webhook through the real API server.
func TestCosignCLISignatures(t *testing.T) {
	t.Parallel()
	cosign := cosignCLI{bin: cosignBinary(t), dir: t.TempDir()}
	reg := startDockerRegistry(t)
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()

	cosign.run(t, "generate-key-pair")
	cosign.run(t, "signing-config", "create", "--out", "sc.json")
	pub := cosign.file(t, "cosign.pub")
	ca := imagesigtest.NewCA(t)
	cert, chain := ca.Certify(t, pub, "https://ci.example/shop/release", "https://oidc.ci.example")
	if err := os.WriteFile(filepath.Join(cosign.dir, "cert.pem"), cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cosign.dir, "chain.pem"), chain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cosign.dir, "provenance.json"), []byte(`{"buildDefinition":{"buildType":"https://ci.example/build/v1"},"runDetails":{"builder":{"id":"https://ci.example/builder"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	classic, bundle, keyless, attested, signedOnly, unsigned, late :=
		reg.push(t, "shop/web:classic"), reg.push(t, "shop/web:bundle"), reg.push(t, "keyless/web:v1"),
		reg.push(t, "attested/web:v1"), reg.push(t, "attested/web:signed"), reg.push(t, "shop/web:unsigned"), reg.push(t, "shop/web:late")
	sha256, sha512 := reg.push(t, "sha256/web:v1"), reg.push(t, "sha512/web:v1")
	offline := []string{"--use-signing-config=false", "--tlog-upload=false", "--yes"}
	cosign.run(t, append([]string{"sign", "--key", "cosign.key", classic.String()}, offline...)...)
	cosign.run(t, append([]string{"sign", "--key", "cosign.key", sha256.String()}, offline...)...)
	cosign.run(t, append([]string{"sign", "--key", "cosign.key", sha512.String()}, offline...)...)
	cosign.run(t, append([]string{"sign", "--key", "cosign.key", signedOnly.String()}, offline...)...)
	cosign.run(t, "sign", "--key", "cosign.key", "--signing-config", "sc.json", "--yes", bundle.String())
	cosign.run(t, append([]string{"sign", "--key", "cosign.key", "--certificate", "cert.pem", "--certificate-chain", "chain.pem", keyless.String()}, offline...)...)
	cosign.run(t, append([]string{"attest", "--key", "cosign.key", "--type", "slsaprovenance1", "--predicate", "provenance.json", attested.String()}, offline...)...)

	yes := true
	glob := func(g string) []policyv1beta1.ImagePattern {
		return []policyv1beta1.ImagePattern{{Glob: reg.Host + "/" + g}}
	}
	policies := []*policyv1beta1.ClusterImagePolicy{
		{ObjectMeta: metav1.ObjectMeta{Name: ns + "-shop"}, Spec: policyv1beta1.ClusterImagePolicySpec{Images: glob("shop/*"),
			Authorities: []policyv1beta1.Authority{{Name: "release", Key: &policyv1beta1.KeyRef{Data: string(pub)}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: ns + "-keyless"}, Spec: policyv1beta1.ClusterImagePolicySpec{Images: glob("keyless/**"),
			Authorities: []policyv1beta1.Authority{{Name: "ci", Keyless: &policyv1beta1.KeylessRef{
				CACert:            &policyv1beta1.KeyRef{Data: string(ca.ChainPEM)},
				Identities:        []policyv1beta1.Identity{{Issuer: "https://oidc.ci.example", SubjectRegExp: `^https://ci\.example/shop/`}},
				InsecureIgnoreSCT: &yes}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: ns + "-attested"}, Spec: policyv1beta1.ClusterImagePolicySpec{Images: glob("attested/**"),
			Authorities: []policyv1beta1.Authority{{Name: "release", Key: &policyv1beta1.KeyRef{Data: string(pub)},
				Attestations: []policyv1beta1.Attestation{{Name: "provenance", PredicateType: "slsaprovenance1", Policy: &policyv1beta1.Policy{
					Type: "rego", Data: "package sigstore\nisCompliant { input.predicate.runDetails.builder.id == \"https://ci.example/builder\" }"}}}}}}},
		// The same key and the same cosign signature (over a SHA-256 digest, cosign's default):
		// a policy saying sha512 must refuse it, one saying sha256 admit it.
		{ObjectMeta: metav1.ObjectMeta{Name: ns + "-sha256"}, Spec: policyv1beta1.ClusterImagePolicySpec{Images: glob("sha256/**"),
			Authorities: []policyv1beta1.Authority{{Name: "release", Key: &policyv1beta1.KeyRef{Data: string(pub), HashAlgorithm: "sha256"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: ns + "-sha512"}, Spec: policyv1beta1.ClusterImagePolicySpec{Images: glob("sha512/**"),
			Authorities: []policyv1beta1.Authority{{Name: "release", Key: &policyv1beta1.KeyRef{Data: string(pub), HashAlgorithm: "sha512"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: ns + "-trial"}, Spec: policyv1beta1.ClusterImagePolicySpec{Images: glob("trial/**"), Mode: "warn",
			Authorities: []policyv1beta1.Authority{{Name: "release", Key: &policyv1beta1.KeyRef{Data: string(pub)}}}}},
	}
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	for _, p := range policies {
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })
	}
	gate := startGateWith(t, env, ns, webhook.Config{Images: imagesig.New(imagesig.Options{Timeout: 3 * time.Second, NegativeTTL: time.Second, TagTTL: time.Minute}), NoMatchPolicy: "deny"})
	env.Eventually(t, 30*time.Second, "the gate to see the ClusterImagePolicies", func(ctx context.Context) (bool, error) {
		err := env.Client.Create(ctx, deployment(ns, attested.String(), 1), client.DryRunAll)
		return err == nil, nil
	})

	for _, tc := range []struct {
		name, image, denial string
	}{
		{"classic signature, by tag", reg.Host + "/shop/web:classic", ""},
		{"Sigstore bundle under the fallback tag", bundle.String(), ""},
		{"certificate from the private CA (keyless)", keyless.String(), ""},
		{"SLSA attestation passing its policy", attested.String(), ""},
		{"unsigned", reg.Host + "/shop/web:unsigned", "image " + reg.Host + "/shop/web:unsigned (" + unsigned.DigestStr() + ") in spec.template.spec.containers[web].image is not allowed by ClusterImagePolicy " + ns + "-shop: no signatures found"},
		{"signed but not attested", signedOnly.String(), "attestation provenance (https://slsa.dev/provenance/v1) signed by key release is missing"},
		{"hashAlgorithm sha256, signed by cosign", sha256.String(), ""},
		{"hashAlgorithm sha512 refuses cosign's SHA-256 signature", sha512.String(), "is not allowed by ClusterImagePolicy " + ns + "-sha512"},
		{"matched by no policy (no-match deny)", reg.Host + "/other/web:v1", "matches no ClusterImagePolicy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx, deployment(ns, tc.image, 1), client.DryRunAll)
			switch {
			case tc.denial == "" && err != nil:
				t.Errorf("want admitted: %v", err)
			case tc.denial != "" && (err == nil || !strings.Contains(err.Error(), tc.denial)):
				t.Errorf("err = %v, want a denial with %q", err, tc.denial)
			}
		})
	}

	// The daemon deploys by tag what cosign signed and attested; its Deployment Log keeps the
	// evidence: the digest that runs, the authority (the keyless certificate's identity and
	// issuer), and the SLSA attestation with its statement's digest and signer.
	t.Run("the daemon's Deployment Log keeps the evidence", func(t *testing.T) {
		if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "receiver"}, Data: map[string][]byte{"secret": []byte("k")}}); err != nil {
			t.Fatal(err)
		}
		labelEnvironment(t, env, ns, "staging")
		repo := newGitRepo(t)
		repo.commit(t, "web, attested", map[string]string{"web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: evidence}
spec:
  replicas: 1
  selector: {matchLabels: {app: evidence}}
  template:
    metadata: {labels: {app: evidence}}
    spec:
      containers:
      - {name: web, image: "` + reg.Host + `/attested/web:v1"}
      - {name: sidecar, image: "` + reg.Host + `/keyless/web:v1"}
`})
		startDaemonOpts(t, nil, ns, "receiver", t.TempDir(), func(o *reconciler.Options) {
			o.VerifyImages, o.AttestKey, o.AttestKeyPassword = true, filepath.Join(cosign.dir, "cosign.key"), []byte("bollard-test")
		})
		rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
			Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo.url()}, Interval: metav1.Duration{Duration: time.Hour}, Attest: true}}
		if err := env.Client.Create(ctx, rel); err != nil {
			t.Fatal(err)
		}
		var r v1alpha1.Release
		env.Eventually(t, 60*time.Second, "the attested revision verified", func(ctx context.Context) (bool, error) {
			err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r)
			return err == nil && r.Status.Rollout != nil && r.Status.Rollout.Phase == "Succeeded", nil
		})
		l := latestLog(t, &r)
		if l.Environment != "staging" || l.Namespace != ns || l.Target != "staging (namespace "+ns+")" || l.Strategy != "rolling: rollout" {
			t.Errorf("target %q (environment %q, namespace %q), strategy %q", l.Target, l.Environment, l.Namespace, l.Strategy)
		}
		byImage := map[string]v1alpha1.ArtifactEvidence{}
		for _, e := range l.Evidence {
			byImage[e.Image] = e
		}
		web, side := byImage[reg.Host+"/attested/web:v1"], byImage[reg.Host+"/keyless/web:v1"]
		if !web.Verified || web.Digest != attested.DigestStr() || web.Policy != ns+"-attested" || web.Authority != "key release" || len(web.Attestations) != 1 {
			t.Fatalf("evidence of the attested image: %+v", web)
		}
		att := web.Attestations[0]
		if att.Name != "provenance" || att.PredicateType != "https://slsa.dev/provenance/v1" || !strings.HasPrefix(att.Digest, "sha256:") || len(att.Digest) != 71 || att.Signer != "key release" {
			t.Errorf("attestation evidence %+v", att)
		}
		if !side.Verified || side.Digest != keyless.DigestStr() || side.Authority != "keyless authority ci: https://ci.example/shop/release (issuer https://oidc.ci.example)" {
			t.Errorf("evidence of the keyless image: %+v", side)
		}
		out, code := bollardCLI(t, env, "log", "shop", "-n", ns)
		for _, want := range []string{
			"> **Target**: staging (namespace " + ns + ")",
			"> **Artifact**: " + reg.Host + "/attested/web:v1@" + attested.DigestStr(),
			"🔐 Signature verified (cosign). Digest: " + attested.DigestStr() + " — ClusterImagePolicy " + ns + "-attested, key release (",
			"📜 Attestation provenance (https://slsa.dev/provenance/v1) verified: statement " + att.Digest + ", signed by key release",
			"🔐 Signature verified (cosign). Digest: " + keyless.DigestStr() + " — ClusterImagePolicy " + ns + "-keyless, keyless authority ci: https://ci.example/shop/release (issuer https://oidc.ci.example)",
			"> **Strategy**: rolling: rollout",
			"🧹 drain: OK — Deployment evidence: no earlier instances",
			"attest: OK",
		} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("bollard log (exit %d) lacks %q:\n%s", code, want, out)
			}
		}
		// The registry keeps the log with each digest: the real cosign CLI verifies the bollard
		// attestation with the daemon's key, and its predicate is this log.
		for _, d := range []name.Digest{attested, keyless} {
			cmd := exec.Command(cosign.bin, "verify-attestation", "--key", "cosign.pub", "--type", reconciler.PredicateDeploymentLog,
				"--insecure-ignore-tlog=true", "--insecure-ignore-sct=true", d.String())
			cmd.Dir, cmd.Env = cosign.dir, append(os.Environ(), "HOME="+cosign.dir, "TUF_ROOT="+filepath.Join(cosign.dir, "tuf"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			if err != nil {
				t.Fatalf("cosign verify-attestation %s: %v\n%s%s", d, err, stdout, stderr.String())
			}
			var env struct {
				Payload string `json:"payload"`
			}
			if err := json.Unmarshal(bytes.SplitN(bytes.TrimSpace(stdout), []byte("\n"), 2)[0], &env); err != nil {
				t.Fatalf("cosign output %q: %v", stdout, err)
			}
			statement, _ := base64.StdEncoding.DecodeString(env.Payload)
			var st struct {
				PredicateType string                               `json:"predicateType"`
				Subject       []struct{ Digest map[string]string } `json:"subject"`
				Predicate     reconciler.DeploymentPredicate       `json:"predicate"`
			}
			if err := json.Unmarshal(statement, &st); err != nil {
				t.Fatalf("statement %s: %v", statement, err)
			}
			if st.PredicateType != reconciler.PredicateDeploymentLog || len(st.Subject) != 1 || "sha256:"+st.Subject[0].Digest["sha256"] != d.DigestStr() ||
				st.Predicate.Release != ns+"/shop" || st.Predicate.Log.ID != l.ID || st.Predicate.Log.Status != v1alpha1.LogSuccess || len(st.Predicate.Log.Evidence) != 2 {
				t.Errorf("attestation on %s: type %s, subject %v, release %s, log #%d %s", d, st.PredicateType, st.Subject, st.Predicate.Release, st.Predicate.Log.ID, st.Predicate.Log.Status)
			}
		}
		// bollard verify reads it too: where and when the digest ran; a digest never deployed has none.
		pubPath := filepath.Join(cosign.dir, "cosign.pub")
		verify := func(image string) (string, int) {
			out, err := exec.Command(os.Getenv("BOLLARD_BIN"), "verify", "--key", pubPath, "--deployments", image).CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return string(out), exit.ExitCode()
			}
			if err != nil {
				t.Fatalf("bollard verify: %v", err)
			}
			return string(out), 0
		}
		out, code = verify(attested.String())
		if want := fmt.Sprintf("deployed %s (%s): Release %s/shop, staging (namespace %s) — Deployment Log #%d SUCCESS, finished ", attested, attested.DigestStr(), ns, ns, l.ID); code != 0 || !strings.Contains(out, want) {
			t.Errorf("bollard verify --deployments (exit %d) lacks %q:\n%s", code, want, out)
		}
		out, code = verify(classic.String())
		if code != 1 || !strings.Contains(out, "attestation deployment-log (https://bollard.dev/deployment-log/v1) signed by key cosign.pub is missing") {
			t.Errorf("bollard verify --deployments of a digest never deployed (exit %d):\n%s", code, out)
		}
	})

	t.Run("warn mode admits an unsigned image with an admission warning", func(t *testing.T) {
		trial := reg.push(t, "trial/web:v1")
		c, w := as(t, env, ns, "dev")
		if err := c.Create(ctx, deployment(ns, trial.String(), 1), client.DryRunAll); err != nil {
			t.Fatalf("warn mode: %v", err)
		}
		if want := "fails ClusterImagePolicy " + ns + "-trial (warn mode): no signatures found"; !w.contains(want) {
			t.Errorf("warnings %v lack %q", w.list, want)
		}
	})
	t.Run("kube-system is never checked", func(t *testing.T) {
		// The registration as shipped (kube-system excluded), widened from this test's namespace to
		// kube-system only, so parallel tests are not affected.
		hook := webhook.ValidatingWebhook(gate.URL+"/validate", kubetest.CABundle(gate), "", admissionregistrationv1.Fail, 10)
		hook.Name = "kube-system.bollard.dev"
		hook.NamespaceSelector.MatchExpressions = append(hook.NamespaceSelector.MatchExpressions,
			metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{ns, "kube-system"}})
		env.RegisterValidatingWebhook(t, ns, hook)
		if err := env.Client.Create(ctx, deployment(ns, unsigned.String(), 1), client.DryRunAll); err == nil {
			t.Fatal("the shipped registration does not reach the test namespace: the kube-system check would prove nothing")
		}
		if err := env.Client.Create(ctx, deployment("kube-system", unsigned.String(), 1), client.DryRunAll); err != nil {
			t.Errorf("an unsigned image in kube-system: %v", err)
		}
	})

	t.Run("registry stopped: cached verdicts admitted, new digests denied as unreachable", func(t *testing.T) {
		reg.stop()
		if err := env.Client.Create(ctx, deployment(ns, classic.String(), 1), client.DryRunAll); err != nil {
			t.Errorf("verified before the outage: %v", err)
		}
		err := env.Client.Create(ctx, deployment(ns, late.String(), 1), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "registry unreachable") {
			t.Errorf("err = %v, want a denial saying registry unreachable", err)
		}
		// By tag: admitted a moment ago, so admitted now (its digest within --tag-ttl, the verdict
		// cached); a tag never seen is denied.
		if err := env.Client.Create(ctx, deployment(ns, reg.Host+"/shop/web:classic", 1), client.DryRunAll); err != nil {
			t.Errorf("tag verified before the outage: %v", err)
		}
		err = env.Client.Create(ctx, deployment(ns, reg.Host+"/shop/web:late", 1), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "registry unreachable") {
			t.Errorf("a tag never seen: err = %v, want a denial saying registry unreachable", err)
		}
	})
}
