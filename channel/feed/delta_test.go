package feed

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// versions are two releases of one binary: 256 KiB, then 60 bytes changed and 16 KiB appended.
func versions(t *testing.T) (old, cur []byte) {
	t.Helper()
	old = make([]byte, 256<<10)
	_, _ = rand.Read(old)
	cur = bytes.Clone(old)
	for i := range 60 {
		cur[i*4093] ^= 0xff
	}
	tail := make([]byte, 16<<10)
	_, _ = rand.Read(tail)
	return old, append(cur, tail...)
}

// TestDeltaZstdInterop: a delta made by bollard is applied by Debian's zstd (--patch-from), and
// one made by zstd is applied by bollard; both give the new file byte for byte.
func TestDeltaZstdInterop(t *testing.T) {
	zstdCLI, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("zstd not found: install Debian's zstd (.ci/run does)")
	}
	dir := t.TempDir()
	old, cur := versions(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldPath, curPath := write("old", old), write("new", cur)
	delta, err := MakeDelta(old, cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(delta) > len(cur)/4 {
		t.Errorf("delta %d bytes for a %d-byte file", len(delta), len(cur))
	}
	out := filepath.Join(dir, "by-zstd")
	if b, err := exec.Command(zstdCLI, "-q", "-d", "--patch-from="+oldPath, write("bollard.zst", delta), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("zstd -d --patch-from on bollard's delta: %v\n%s", err, b)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, cur) {
		t.Error("zstd applied bollard's delta to something else")
	}
	theirs := filepath.Join(dir, "zstd.zst")
	if b, err := exec.Command(zstdCLI, "-q", "--patch-from="+oldPath, curPath, "-o", theirs).CombinedOutput(); err != nil {
		t.Fatalf("zstd --patch-from: %v\n%s", err, b)
	}
	patch, _ := os.ReadFile(theirs)
	got, err := ApplyDelta(old, patch, int64(len(cur)))
	if err != nil || !bytes.Equal(got, cur) {
		t.Errorf("bollard applying zstd's delta: %v (equal %t)", err, bytes.Equal(got, cur))
	}
	if _, err := ApplyDelta(old, patch, int64(len(cur))-1); err == nil {
		t.Error("a delta decoding beyond its bound was applied")
	}
}

// TestFeedDeltaDownload: an installation of 1.0.0 updates to 1.1.0 through the signed delta (far
// fewer bytes); one whose installed file differs gets the whole file instead — either way what it
// gets is the signed 1.1.0.
func TestFeedDeltaDownload(t *testing.T) {
	dir := t.TempDir()
	repo, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	old, cur := versions(t)
	files := t.TempDir()
	oldPath, curPath := filepath.Join(files, "1.0.0", "shop"), filepath.Join(files, "1.1.0", "shop")
	for p, data := range map[string][]byte{oldPath: old, curPath: cur} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := repo.Publish("stable", "linux-amd64", "1.0.0", 100, oldPath); err != nil {
		t.Fatal(err)
	}
	p, err := repo.Publish("stable", "linux-amd64", "1.1.0", 100, curPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Deltas) != 1 || p.Deltas[0].From != "1.0.0" {
		t.Fatalf("pointer %+v", p)
	}
	var served int64
	srv := httptest.NewServer(countBytes(Handler(dir), &served))
	t.Cleanup(srv.Close)
	root, _ := os.ReadFile(filepath.Join(dir, "metadata", "1.root.json"))

	broken := filepath.Join(files, "broken")
	other := bytes.Clone(old)
	for i := 0; i < len(other); i += 1000 {
		other[i] ^= 0x55 // another build of 1.0.0, say
	}
	if err := os.WriteFile(broken, other, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, installed string
		delta           bool
	}{{"the installed 1.0.0", oldPath, true}, {"an installed file that is not 1.0.0", broken, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{URL: srv.URL, Root: root, Dir: t.TempDir(), InstallID: "a", Platform: "linux-amd64", Channel: "stable", Current: "1.0.0", Installed: tc.installed}
			o, ok, err := c.Check()
			if err != nil || !ok {
				t.Fatalf("offer %+v %t %v", o, ok, err)
			}
			before := served
			path, viaDelta, err := c.Download(o)
			if err != nil || viaDelta != tc.delta {
				t.Fatalf("download: delta %t, %v", viaDelta, err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, cur) {
				t.Fatal("the update is not the signed 1.1.0")
			}
			if moved := served - before; tc.delta && moved > int64(len(cur))/4 {
				t.Errorf("%d bytes served for a delta update of a %d-byte file", moved, len(cur))
			}
		})
	}
}

// countBytes counts the bytes h serves.
func countBytes(h http.Handler, n *int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&counter{ResponseWriter: w, n: n}, r)
	})
}

type counter struct {
	http.ResponseWriter
	n *int64
}

func (c *counter) Write(b []byte) (int, error) {
	*c.n += int64(len(b))
	return c.ResponseWriter.Write(b)
}
