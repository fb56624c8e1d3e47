package e2e

import (
	"archive/tar"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bollard.dev/bollard/test/charttest"
	"bollard.dev/bollard/test/kubetest"
)

// TestImage: make image's script builds bollard's image without Docker into a real registry
// (Debian's docker-registry): an OCI index for linux/amd64 and linux/arm64 of static binaries, run
// as a non-root user; the index and each image signed by the real cosign CLI and attested with a
// CycloneDX SBOM made from the binary's build info and SLSA v1 provenance. bollard verifies its
// own image with the ClusterImagePolicy its chart ships; another key, or an image the key never
// signed, is refused. make chart then pushes the chart, the image pinned, and helm installs it from
// the registry.
func TestImage(t *testing.T) {
	t.Parallel()
	cyclonedx := os.Getenv("BOLLARD_CYCLONEDX")
	if cyclonedx == "" {
		t.Fatal("BOLLARD_CYCLONEDX must name the cyclonedx-gomod CLI (make test builds it)")
	}
	cosign := cosignCLI{bin: cosignBinary(t), dir: t.TempDir()}
	reg := startDockerRegistry(t)
	work, out := t.TempDir(), t.TempDir()
	stdout := makeScript(t, "hack/image.sh", reg, cosign, work, out, "CYCLONEDX="+cyclonedx, "LDFLAGS=-s -w -X main.version=v0.0.1-e2e")
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	ref, err := name.NewDigest(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("make image printed %q: %v", stdout, err)
	}
	if want := reg.Host + "/platform/bollard"; ref.Context().String() != want {
		t.Errorf("pushed to %s, want %s", ref.Context(), want)
	}

	// The index: both platforms, each a static binary run as non-root from a single layer.
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	platforms := map[string]v1.Hash{}
	for _, m := range manifest.Manifests {
		if m.Platform == nil || m.Platform.OS != "linux" || machines[m.Platform.Architecture] == 0 {
			t.Fatalf("unexpected manifest %+v", m)
		}
		platforms[m.Platform.Architecture] = m.Digest
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Config.User != "65532:65532" || strings.Join(cfg.Config.Entrypoint, " ") != "/bollard" || cfg.Architecture != m.Platform.Architecture {
			t.Errorf("%s: user %q, entrypoint %v, architecture %s", m.Platform.Architecture, cfg.Config.User, cfg.Config.Entrypoint, cfg.Architecture)
		}
		bin := filepath.Join(out, "bollard-"+m.Platform.Architecture)
		files := extract(t, img, map[string]string{"bollard": bin})
		for _, f := range []string{"etc/ssl/certs/ca-certificates.crt", "etc/passwd", "tmp/"} {
			if !files[f] {
				t.Errorf("%s: no %s in the image", m.Platform.Architecture, f)
			}
		}
		if files["bin/sh"] {
			t.Errorf("%s: the image has a shell", m.Platform.Architecture)
		}
		ef, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		if ef.Machine != machines[m.Platform.Architecture] {
			t.Errorf("%s: an ELF for %s", m.Platform.Architecture, ef.Machine)
		}
		for _, p := range ef.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: the binary is dynamically linked (%s)", m.Platform.Architecture, p.Type)
			}
		}
		ef.Close()
	}
	if len(platforms) != 2 {
		t.Fatalf("platforms %v, want amd64 and arm64", platforms)
	}
	// The amd64 binary runs here (a static binary needs nothing of the host).
	if v, err := exec.Command(filepath.Join(out, "bollard-amd64"), "version").CombinedOutput(); err != nil || !strings.Contains(string(v), "v0.0.1-e2e") {
		t.Errorf("bollard version from the image: %v\n%s", err, v)
	}

	// bollard verifies itself with the chart's ClusterImagePolicy: the index and each image signed
	// by the release key, with its SBOM and provenance.
	pub := filepath.Join(work, "keys", "cosign.pub")
	policy, err := exec.Command(charttest.Helm(t), "template", "bollard", "../../charts/bollard", "--show-only", "templates/image-policy.yaml",
		"--set", "image.repository="+ref.Context().String(), "--set-file", "image.verify.publicKey="+pub).CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, policy)
	}
	policyFile := filepath.Join(out, "policy.yaml")
	if err := os.WriteFile(policyFile, policy, 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(image string, args ...string) (string, error) { // the image's own binary
		b, err := exec.Command(filepath.Join(out, "bollard-amd64"), append([]string{"verify", image}, args...)...).CombinedOutput()
		return string(b), err
	}
	for _, image := range []string{ref.String(), ref.Context().Digest(platforms["amd64"].String()).String(), ref.Context().Digest(platforms["arm64"].String()).String(), ref.Context().Tag("v0.0.1-e2e").String()} {
		if got, err := verify(image, "--policy", policyFile); err != nil || !strings.Contains(got, "attested sbom, provenance by bollard-release-key") {
			t.Errorf("bollard verify %s with the chart's policy: %v\n%s", image, err, got)
		}
	}
	unsigned := reg.push(t, "platform/bollard:unsigned")
	if got, err := verify(unsigned.String(), "--policy", policyFile); err == nil {
		t.Errorf("an image the release key never signed verified:\n%s", got)
	}
	cosign.run(t, "generate-key-pair")
	if got, err := verify(ref.String(), "--key", filepath.Join(cosign.dir, "cosign.pub")); err == nil || !strings.Contains(got, "NOT verified") {
		t.Errorf("verified with another key: %v\n%s", err, got)
	}

	installFromOCI(t, reg, ref, cosign, work, out, pub)

	// The SBOM is CycloneDX made from the binary's build info: it lists bollard's modules.
	att, err := exec.Command(cosign.bin, "verify-attestation", "--key", pub, "--type", "cyclonedx", "--insecure-ignore-tlog=true", ref.Context().Digest(platforms["arm64"].String()).String()).Output()
	if err != nil {
		t.Fatalf("cosign verify-attestation: %v", err)
	}
	var env struct{ Payload string }
	if err := json.Unmarshal([]byte(strings.SplitN(strings.TrimSpace(string(att)), "\n", 2)[0]), &env); err != nil {
		t.Fatalf("attestation %q: %v", att, err)
	}
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	var st struct {
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			BOMFormat  string `json:"bomFormat"`
			Components []struct {
				Name string `json:"name"`
			} `json:"components"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range st.Predicate.Components {
		found = found || c.Name == "k8s.io/client-go"
	}
	if st.PredicateType != "https://cyclonedx.org/bom" || st.Predicate.BOMFormat != "CycloneDX" || !found {
		t.Errorf("SBOM: type %s, format %s, %d components (client-go listed: %v)", st.PredicateType, st.Predicate.BOMFormat, len(st.Predicate.Components), found)
	}
}

// installFromOCI: make chart's script packages the chart with the image pinned by digest, pushes
// it to the registry (helm push) and signs it; `helm install oci://…` takes it from there (a
// server-side dry run through the real API server: its pods would be kwok's).
func installFromOCI(t *testing.T, reg *dockerRegistry, image name.Digest, cosign cosignCLI, cacheDir, out, pub string) {
	t.Helper()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	stdout := makeScript(t, "hack/chart.sh", reg, cosign, cacheDir, out, "HELM="+charttest.Helm(t), "IMAGE="+image.String())
	want := "helm install bollard oci://" + reg.Host + "/platform/charts/bollard --version 0.0.1-e2e --plain-http"
	if got := strings.TrimSpace(string(stdout)); got != want {
		t.Errorf("make chart printed %q, want %q", got, want)
	}
	chartRef, err := os.ReadFile(filepath.Join(out, "chart-reference"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := exec.Command(filepath.Join(out, "bollard-amd64"), "verify", strings.TrimSpace(string(chartRef)), "--key", pub).CombinedOutput(); err != nil {
		t.Errorf("the chart's signature: %v\n%s", err, got)
	}
	args := append(strings.Fields(strings.TrimPrefix(want, "helm ")), "--namespace", ns, "--kubeconfig", env.Kubeconfig, "--dry-run=server",
		"--set-file", "image.verify.publicKey="+pub, "--set", "daemon.enabled=false", "--set", "webhook.nodeSelector.kubernetes\\.io/os=linux")
	manifest, err := exec.Command(charttest.Helm(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, manifest)
	}
	for _, w := range []string{"image: " + image.String(), "kind: ClusterImagePolicy", "priorityClassName: system-cluster-critical", "kubernetes.io/os: linux", "STATUS: pending-install"} {
		if !strings.Contains(string(manifest), w) {
			t.Errorf("helm install from the OCI registry: no %q in\n%s", w, manifest)
		}
	}
}

// makeScript runs what make image or make chart runs (script, from the repository's root) with
// the registry, cosign, the key cache and the output folder, version v0.0.1-e2e and env; its
// standard output.
func makeScript(t *testing.T, script string, reg *dockerRegistry, cosign cosignCLI, cacheDir, out string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command(script)
	cmd.Dir = "../.."
	cmd.Env = append(append(os.Environ(), "REGISTRY="+reg.Host+"/platform", "COSIGN="+cosign.bin, "CACHE="+cacheDir, "OUT="+out,
		"VERSION=v0.0.1-e2e", "TUF_ROOT="+filepath.Join(cacheDir, "tuf")), env...)
	stdout, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("%s: %v\n%s", script, err, ee.Stderr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return stdout
}

// extract writes the image's files named in want (path in the image → file) and returns every
// path the image holds.
func extract(t *testing.T, img v1.Image, want map[string]string) map[string]bool {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seen[h.Name] = true
			if dst, ok := want[h.Name]; ok {
				f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(f, tr); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}
		rc.Close()
	}
	return seen
}
