package codesigntest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// UploadKey is an Android upload key made by the JDK's keytool (a self-signed RSA certificate
// in a keystore), and its certificate's SHA-256 fingerprint (hex).
type UploadKey struct {
	Store, Fingerprint string
}

// NewUploadKey makes an upload key whose certificate's subject is dname ("CN=Shop upload").
func NewUploadKey(t testing.TB, dname string) UploadKey {
	t.Helper()
	store := filepath.Join(t.TempDir(), "upload.jks")
	jdk(t, "keytool", "-genkeypair", "-keystore", store, "-storepass", "bollard", "-keypass", "bollard", "-alias", "upload",
		"-keyalg", "RSA", "-keysize", "2048", "-validity", "365", "-dname", dname)
	out := jdk(t, "keytool", "-exportcert", "-rfc", "-keystore", store, "-storepass", "bollard", "-alias", "upload")
	b, _ := pem.Decode(out)
	if b == nil {
		t.Fatalf("keytool -exportcert: no PEM:\n%s", out)
	}
	sum := sha256.Sum256(b.Bytes)
	return UploadKey{Store: store, Fingerprint: hex.EncodeToString(sum[:])}
}

// Sign signs the zip at file in place with the JDK's jarsigner (a v1 JAR signature, as Play
// checks the upload key of an App Bundle).
func (k UploadKey) Sign(t testing.TB, file string) {
	t.Helper()
	jdk(t, "jarsigner", "-keystore", k.Store, "-storepass", "bollard", "-keypass", "bollard", file, "upload")
}

func jdk(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s (the JDK's) is needed: apt-get install openjdk-17-jdk-headless", name)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Zip is a zip archive of entries (an App Bundle's layout, for one).
func Zip(t testing.TB, entries map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
