package feed

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TestFeedStagedRollout: a feed published, served over loopback and read by 200 installations
// through go-tuf's real updater — each step offers the new version to a share of installations
// within a binomial bound (a cohort kept from 10 % to 50 %), halt offers it to nobody new, a
// rollback offers the earlier version back to those who updated; a tampered target and a replayed
// timestamp are refused.
func TestFeedStagedRollout(t *testing.T) {
	dir := t.TempDir()
	repo, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, size int) string {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	v100, v110 := file("shop.tar.gz", 64<<10), file("shop.tar.gz", 70<<10)
	if _, err := repo.Publish("stable", "linux-amd64", "1.0.0", 100, v100); err != nil {
		t.Fatal(err)
	}
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		Handler(dir).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	if resp, err := http.Get(srv.URL + "/keys/root.pem"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the feed's keys are served: %v %v", resp.Status, err)
	}
	root, err := os.ReadFile(filepath.Join(dir, "metadata", "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	clients := make([]*Client, 200)
	for i := range clients {
		clients[i] = &Client{URL: srv.URL, Root: root, Dir: t.TempDir(), InstallID: fmt.Sprintf("install-%03d", i), Platform: "linux-amd64", Channel: "stable"}
	}
	// First install: everyone is offered 1.0.0, and the download is what was published.
	o, ok, err := clients[0].Check()
	if err != nil || !ok || o.Version != "1.0.0" {
		t.Fatalf("a new installation: offer %+v %t %v", o, ok, err)
	}
	got, _, err := clients[0].Download(o)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(v100)
	if data, _ := os.ReadFile(got); string(data) != string(want) {
		t.Fatal("the downloaded 1.0.0 differs from the published file")
	}
	for _, c := range clients {
		c.Current = "1.0.0"
	}
	offered := func() map[int]bool {
		t.Helper()
		m := map[int]bool{}
		for i, c := range clients {
			o, ok, err := c.Check()
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if ok {
				m[i] = o.Version == "1.1.0"
			}
		}
		return m
	}
	within := func(n, total int, p float64) bool { // 4.5 standard deviations of Binomial(total, p)
		mean, sd := float64(total)*p, math.Sqrt(float64(total)*p*(1-p))
		return math.Abs(float64(n)-mean) <= 4.5*sd
	}

	if _, err := repo.Publish("stable", "linux-amd64", "1.1.0", 10, v110); err != nil {
		t.Fatal(err)
	}
	at10 := offered()
	if !within(len(at10), 200, 0.10) || len(at10) == 0 {
		t.Errorf("10 %%: %d of 200 offered 1.1.0", len(at10))
	}
	if _, err := repo.SetPercent("stable", "linux-amd64", 50); err != nil {
		t.Fatal(err)
	}
	at50 := offered()
	if !within(len(at50), 200, 0.50) {
		t.Errorf("50 %%: %d of 200 offered 1.1.0", len(at50))
	}
	t.Logf("offered 1.1.0: %d of 200 at 10 %%, %d at 50 %%", len(at10), len(at50))
	for i := range at10 {
		if !at50[i] {
			t.Errorf("installation %d was offered 1.1.0 at 10 %% but not at 50 %%", i)
		}
	}
	// Those offered update.
	for i := range at50 {
		o, _, _ := clients[i].Check()
		path, _, err := clients[i].Download(o)
		if err != nil {
			t.Fatalf("client %d download: %v", i, err)
		}
		if data, _ := os.ReadFile(path); len(data) != 70<<10 {
			t.Fatalf("client %d downloaded %d bytes", i, len(data))
		}
		clients[i].Current = "1.1.0"
	}
	// The red button: nobody new is offered 1.1.0.
	if _, err := repo.Halt("stable", "linux-amd64"); err != nil {
		t.Fatal(err)
	}
	if n := len(offered()); n != 0 {
		t.Errorf("halted: %d installations still offered an update", n)
	}
	// Rollback: those on 1.1.0 are offered 1.0.0 back; the others nothing.
	if _, err := repo.Rollback("stable", "linux-amd64"); err != nil {
		t.Fatal(err)
	}
	back := 0
	for i, c := range clients {
		o, ok, err := c.Check()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case at50[i] && (!ok || o.Version != "1.0.0" || !o.Downgrade):
			t.Errorf("installation %d on 1.1.0 after the rollback: offer %+v %t", i, o, ok)
		case !at50[i] && ok:
			t.Errorf("installation %d on 1.0.0 offered %+v after the rollback", i, o)
		case ok:
			back++
		}
	}
	if back != len(at50) {
		t.Errorf("%d of %d installations on 1.1.0 offered 1.0.0 back", back, len(at50))
	}

	// A tampered target (the mirror's copy changed): refused against the signed hash.
	if _, err := repo.SetPercent("stable", "linux-amd64", 100); err != nil { // points at 1.0.0 for everyone
		t.Fatal(err)
	}
	stored, _ := filepath.Glob(filepath.Join(dir, "targets", "app", "linux-amd64", "1.0.0", "*.shop.tar.gz"))
	if len(stored) != 1 {
		t.Fatalf("stored targets %v", stored)
	}
	bad, _ := os.ReadFile(stored[0])
	bad[100] ^= 1
	if err := os.WriteFile(stored[0], bad, 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := &Client{URL: srv.URL, Root: root, Dir: t.TempDir(), InstallID: "new", Platform: "linux-amd64", Channel: "stable"}
	o, ok, err = fresh.Check()
	if err != nil || !ok {
		t.Fatalf("fresh installation: %+v %t %v", o, ok, err)
	}
	if _, _, err := fresh.Download(o); err == nil || !strings.Contains(strings.ToLower(err.Error()), "hash") {
		t.Errorf("a tampered target downloaded: %v", err)
	} else {
		t.Logf("tampered target: %v", err)
	}

	// A replayed timestamp (an attacker or a stale mirror serving an older one): refused by a
	// client that saw a newer one.
	old, err := os.ReadFile(filepath.Join(dir, "metadata", "timestamp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.SetPercent("stable", "linux-amd64", 100); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fresh.Check(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "metadata", "timestamp.json"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fresh.Check(); err == nil || !strings.Contains(err.Error(), "timestamp") {
		t.Errorf("a replayed timestamp accepted: %v", err)
	} else {
		t.Logf("replayed timestamp: %v", err)
	}
	t.Logf("%d requests to the feed", requests)
}

// TestFeedRefreshAndConcurrentWriters: a feed left alone past its timestamp's day is refused by
// clients until it is refreshed; writers at once (publishes and steps) serialise — every change
// lands, versions rise by one, and a client reads the result.
func TestFeedRefreshAndConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	repo, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "shop")
	if err := os.WriteFile(f, []byte("shop 1.0.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	repo.Now = func() time.Time { return time.Now().Add(-25 * time.Hour) } // signed yesterday
	if _, err := repo.Publish("stable", "linux-amd64", "1.0.0", 100, f); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(dir))
	t.Cleanup(srv.Close)
	root, _ := os.ReadFile(filepath.Join(dir, "metadata", "1.root.json"))
	c := &Client{URL: srv.URL, Root: root, Dir: t.TempDir(), InstallID: "a", Platform: "linux-amd64", Channel: "stable"}
	if _, _, err := c.Check(); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("a feed whose timestamp expired: %v", err)
	}
	repo.Now = nil
	if err := repo.Refresh(); err != nil {
		t.Fatal(err)
	}
	if exp, err := repo.Expires(); err != nil || time.Until(exp) < 23*time.Hour {
		t.Fatalf("expires %s, %v", exp, err)
	}
	if o, ok, err := c.Check(); err != nil || !ok || o.Version != "1.0.0" {
		t.Fatalf("after the refresh: %+v %t %v", o, ok, err)
	}

	before, err := repo.targets()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			other, err := Open(dir) // another process, as far as the feed can tell
			if err == nil {
				_, err = other.SetPercent("stable", "linux-amd64", 50+i)
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			g := filepath.Join(t.TempDir(), "tool")
			err := os.WriteFile(g, []byte(fmt.Sprintf("tool %d", i)), 0o755)
			if err == nil {
				_, err = repo.Publish("beta", "linux-amd64", fmt.Sprintf("2.0.%d", i), 100, g)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	after, err := repo.targets()
	if err != nil {
		t.Fatal(err)
	}
	if after.Signed.Version != before.Signed.Version+40 {
		t.Errorf("targets version %d after 40 changes from %d: changes were lost", after.Signed.Version, before.Signed.Version)
	}
	for i := range 20 {
		if after.Signed.Targets[fmt.Sprintf("app/linux-amd64/2.0.%d/tool", i)] == nil {
			t.Errorf("version 2.0.%d lost", i)
		}
	}
	if _, _, err := c.Check(); err != nil {
		t.Errorf("a client after the concurrent writes: %v", err)
	}
}

// TestFeedKeyRotationAndRootRenewal: keys rotated (the root's among them) are trusted by an
// installation shipped with the first root, which walks the root chain; metadata signed with a
// retired key is refused; a root near its expiry is renewed by Refresh; a rotation a crash left
// half done is settled by Open.
func TestFeedKeyRotationAndRootRenewal(t *testing.T) {
	dir := t.TempDir()
	repo, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	file := func(version string) string {
		f := filepath.Join(t.TempDir(), "shop")
		if err := os.WriteFile(f, []byte("shop "+version), 0o755); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if _, err := repo.Publish("stable", "linux-amd64", "1.0.0", 100, file("1.0.0")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(dir))
	t.Cleanup(srv.Close)
	shipped, _ := os.ReadFile(filepath.Join(dir, "metadata", "1.root.json"))
	installed := &Client{URL: srv.URL, Root: shipped, Dir: t.TempDir(), InstallID: "a", Platform: "linux-amd64", Channel: "stable"}
	if o, ok, err := installed.Check(); err != nil || !ok || o.Version != "1.0.0" {
		t.Fatalf("before the rotation: %+v %t %v", o, ok, err)
	}

	if _, err := repo.RotateKeys("root", "mirror"); err == nil || !strings.Contains(err.Error(), `rotate "mirror"`) {
		t.Errorf("an unknown role: %v", err)
	}
	retired := repo.keys["timestamp"]
	if v, err := repo.RotateKeys("root", "timestamp"); err != nil || v != 2 {
		t.Fatalf("rotate: version %d, %v", v, err)
	}
	if repo.keys["timestamp"].Equal(retired) {
		t.Fatal("the timestamp key did not change")
	}
	if _, err := repo.Publish("stable", "linux-amd64", "1.1.0", 100, file("1.1.0")); err != nil {
		t.Fatal(err)
	}
	fresh := &Client{URL: srv.URL, Root: shipped, Dir: t.TempDir(), InstallID: "b", Platform: "linux-amd64", Channel: "stable"}
	for name, c := range map[string]*Client{"an installation that trusted root 1": installed, "a new one shipped with root 1": fresh} {
		if o, ok, err := c.Check(); err != nil || !ok || o.Version != "1.1.0" {
			t.Errorf("%s, after the rotation: %+v %t %v", name, o, ok, err)
		}
	}
	// A timestamp the retired key signs (a stolen key, a stale signer) is refused.
	data, _ := os.ReadFile(repo.meta("timestamp.json"))
	forged, err := metadata.Timestamp().FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	forged.Signed.Version++
	if err := sign(forged, retired); err != nil {
		t.Fatal(err)
	}
	if err := forged.ToFile(repo.meta("timestamp.json"), true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := installed.Check(); err == nil || !strings.Contains(err.Error(), "timestamp") {
		t.Errorf("a timestamp signed with the retired key: %v", err)
	} else {
		t.Logf("refused: %v", err)
	}
	if err := repo.Refresh(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := installed.Check(); err != nil {
		t.Errorf("after the feed signed again: %v", err)
	}

	// A root with less than RootRenewal left is renewed by Refresh (as feed serve calls it).
	exp, v, err := repo.RootExpires()
	if err != nil || v != 2 {
		t.Fatalf("root %d, %v", v, err)
	}
	repo.Now = func() time.Time { return exp.Add(-RootRenewal + time.Hour) }
	if err := repo.Refresh(); err != nil {
		t.Fatal(err)
	}
	repo.Now = nil
	if renewed, v, err := repo.RootExpires(); err != nil || v != 3 || !renewed.After(exp.Add(300*24*time.Hour)) {
		t.Errorf("after Refresh near the root's expiry (%s): root %d expires %s, %v", exp, v, renewed, err)
	}
	if err := repo.Refresh(); err != nil {
		t.Fatal(err)
	}
	if _, v, _ := repo.RootExpires(); v != 3 {
		t.Errorf("a root far from expiry renewed again: version %d", v)
	}
	if o, ok, err := installed.Check(); err != nil || !ok || o.Version != "1.1.0" {
		t.Errorf("after the renewal: %+v %t %v", o, ok, err)
	}

	// Crashed between the root and the keys' rename: the new key is taken up. Crashed before the
	// root: the orphan key goes.
	if _, err := repo.RotateKeys("snapshot"); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys")
	if err := os.Rename(filepath.Join(keys, "snapshot.pem"), filepath.Join(keys, "snapshot.next.pem")); err != nil {
		t.Fatal(err)
	}
	if err := writeKey(filepath.Join(keys, "snapshot.pem"), retired); err != nil {
		t.Fatal(err)
	}
	if err := writeKey(filepath.Join(keys, "targets.next.pem"), retired); err != nil {
		t.Fatal(err)
	}
	reopened, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(keys, "targets.next.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the orphan key stayed: %v", err)
	}
	if _, err := reopened.Publish("stable", "linux-amd64", "1.2.0", 100, file("1.2.0")); err != nil {
		t.Fatal(err)
	}
	if o, ok, err := installed.Check(); err != nil || !ok || o.Version != "1.2.0" {
		t.Errorf("after a crashed rotation was settled: %+v %t %v", o, ok, err)
	}
}
