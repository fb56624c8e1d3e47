package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

func TestVerifyCommand(t *testing.T) {
	reg := imagesigtest.NewRegistry(t)
	release, other := imagesigtest.NewSigner(t), imagesigtest.NewSigner(t)
	dir := t.TempDir()
	releaseKey, otherKey := filepath.Join(dir, "release.pub"), filepath.Join(dir, "other.pub")
	if err := os.WriteFile(releaseKey, release.PublicPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherKey, other.PublicPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	signed := reg.Push(t, "shop/web:v1")
	release.Sign(t, signed)
	unsigned := reg.Push(t, "shop/web:v2")
	policy := filepath.Join(dir, "shop.yaml")
	indented := "        " + strings.ReplaceAll(strings.TrimSpace(string(release.PublicPEM)), "\n", "\n        ")
	if err := os.WriteFile(policy, []byte(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: shop
spec:
  images:
  - glob: "`+reg.Host+`/shop/**"
  authorities:
  - name: release
    key:
      data: |
`+indented+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notAPolicy := filepath.Join(dir, "cm.yaml")
	if err := os.WriteFile(notAPolicy, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"signed by tag", []string{"verify", reg.Host + "/shop/web:v1", "--key", releaseKey}, 0,
			"verified " + reg.Host + "/shop/web:v1 (" + signed.DigestStr() + ") signed by release.pub"},
		{"wrong key", []string{"verify", signed.String(), "--key", otherKey}, 1, "signature does not match key other.pub"},
		{"unsigned", []string{"verify", unsigned.String(), "--key", releaseKey, "--key", otherKey}, 1,
			"NOT verified " + unsigned.String() + " (" + unsigned.DigestStr() + "): no signatures found"},
		{"policy file", []string{"verify", reg.Host + "/shop/web:v1", "--policy", policy}, 0,
			"verified " + reg.Host + "/shop/web:v1 (" + signed.DigestStr() + ") signed by release (ClusterImagePolicy shop)"},
		{"policy file, unsigned", []string{"verify", unsigned.String(), "--policy", policy}, 1,
			"NOT verified " + unsigned.String() + " (" + unsigned.DigestStr() + ") (ClusterImagePolicy shop): no signatures found"},
		{"image no policy matches", []string{"verify", "registry.example/tool:v1", "--policy", policy}, 1, "matches no ClusterImagePolicy"},
		{"not a ClusterImagePolicy", []string{"verify", signed.String(), "--policy", notAPolicy}, 2, ""},
		{"no key", []string{"verify", signed.String()}, 2, ""},
		{"no image", []string{"verify", "--key", releaseKey}, 2, ""},
		{"bad key file", []string{"verify", signed.String(), "--key", filepath.Join(dir, "missing.pub")}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execute(t, tc.args...)
			code := 0
			if err != nil {
				code = exitCode(err)
			}
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d (%v), want %d; output %q lacks %q", code, err, tc.code, out, tc.want)
			}
		})
	}

	out, err := execute(t, "verify", signed.String(), "--key", releaseKey, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Verified  bool
		Digest    string
		Authority string
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || !v.Verified || v.Digest != signed.DigestStr() || v.Authority != "release.pub" {
		t.Errorf("-o json: %v %+v\n%s", err, v, out)
	}
}
