package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bollard.dev/bollard/channel/feed"
)

// TestFeedRolloutSLOGuard: `bollard feed rollout` steps a desktop feed's version 10 → 50 → 100 %
// with the SLO guard on Debian's Prometheus scraping the versions' crash counters (the exporter's
// error rate by version): a healthy version completes with each step's value in the output; a
// version crashing at its first step is halted and the channel points back at the earlier version
// (exit 1). The CLI is the real binary.
func TestFeedRolloutSLOGuard(t *testing.T) {
	t.Parallel()
	exp, prom := startMetrics(t, "1.0.0", "1.1.0", "1.3.0")
	exp.set("1.2.0", behaviour{Latency: 30 * time.Millisecond, ErrorRate: 0.5})
	dir := filepath.Join(t.TempDir(), "feed")
	files := t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
		if err := os.WriteFile(filepath.Join(files, "shop-"+v), []byte("shop "+v+strings.Repeat(".", 4096)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(want int, args ...string) string {
		t.Helper()
		out, code := bollardCLI(t, nil, args...)
		if code != want {
			t.Fatalf("bollard %s: exit %d, want %d:\n%s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	run(0, "feed", "init", dir)
	run(0, "feed", "publish", dir, filepath.Join(files, "shop-1.0.0"), "--platform", "linux-amd64", "--version", "1.0.0")
	crashes := `100 * (sum(rate(http_requests_total{version="{{version}}",code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[5s]))`
	rollout := []string{"feed", "rollout", dir, "--platform", "linux-amd64", "--steps", "10,50,100", "--prometheus", prom.URL,
		"--slo", "crash-rate:1:" + crashes, "--hold", "2s", "--interval", "500ms", "--initial-delay", "1s"}

	run(0, "feed", "publish", dir, filepath.Join(files, "shop-1.1.0"), "--platform", "linux-amd64", "--version", "1.1.0", "--percent", "0")
	out := run(0, rollout...)
	for _, want := range []string{"step 10%: 1.1.0 offered to 10% of installations", "step 10% SLO guard", "crash-rate 0", "step 50%: PASS", "step 100%: PASS",
		"STATUS: COMPLETED — 1.1.0 offered to 100% of installations"} {
		if !strings.Contains(out, want) {
			t.Errorf("healthy rollout lacks %q:\n%s", want, out)
		}
	}
	repo, err := feed.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := repo.Pointer("stable", "linux-amd64"); p.Version != "1.1.0" || p.Percent != 100 || p.Halted {
		t.Errorf("after the healthy rollout: %+v", p)
	}

	run(0, "feed", "publish", dir, filepath.Join(files, "shop-1.2.0"), "--platform", "linux-amd64", "--version", "1.2.0", "--percent", "0")
	out = run(1, rollout...)
	for _, want := range []string{"step 10%: 1.2.0 offered to 10% of installations", "step 10%: FAIL — crash-rate ", " > 1\n",
		"halt: 1.2.0 is offered to nobody new", "rollback: the channel offers 1.1.0 again", "STATUS: ROLLED_BACK"} {
		if !strings.Contains(out, want) {
			t.Errorf("crashing rollout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "step 50%") {
		t.Errorf("the crashing version went on to 50%%:\n%s", out)
	}
	if p, _ := repo.Pointer("stable", "linux-amd64"); p.Version != "1.1.0" || p.Withdrawn != "1.2.0" || p.Percent != 100 {
		t.Errorf("after the breach: %+v", p)
	}

	// A person presses halt while a step holds: the rollout stops and never lifts it; a rollout
	// run again refuses a halted channel unless told to resume, and then holds its step again.
	run(0, "feed", "publish", dir, filepath.Join(files, "shop-1.3.0"), "--platform", "linux-amd64", "--version", "1.3.0", "--percent", "0")
	long := append(append([]string{}, rollout...), "--hold", "30s")
	cmd := exec.Command(os.Getenv("BOLLARD_BIN"), long...)
	var buf syncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(buf.String(), "step 10% SLO guard") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	run(0, "feed", "halt", dir, "--platform", "linux-amd64")
	err = cmd.Wait()
	if code := exitCodeOf(err); code != 1 || !strings.Contains(buf.String(), "the channel changed under the rollout (1.3.0 at 10%, halted true): stopped") {
		t.Errorf("rollout after a halt: exit %d:\n%s", code, buf.String())
	}
	if p, _ := repo.Pointer("stable", "linux-amd64"); !p.Halted || p.Version != "1.3.0" || p.Percent != 10 {
		t.Errorf("the halt was undone: %+v", p)
	}
	if out := run(1, rollout...); !strings.Contains(out, "is halted at 10% of 1.3.0: resume it on purpose (--resume)") {
		t.Errorf("a rollout of a halted channel:\n%s", out)
	}
	out = run(0, append(rollout, "--resume")...)
	if !strings.Contains(out, "step 10%: 1.3.0 offered to 10% of installations") || !strings.Contains(out, "STATUS: COMPLETED") {
		t.Errorf("resumed rollout:\n%s", out)
	}
	if out := run(1, rollout...); !strings.Contains(out, "offers 1.3.0 to 100% already") {
		t.Errorf("a rollout of a version offered to everyone:\n%s", out)
	}

	// SHA256SUMS of everything published, signed as a Sigstore bundle: the real cosign CLI
	// verifies it, sha256sum checks the files, and a changed line fails cosign.
	cosign := cosignCLI{bin: cosignBinary(t), dir: t.TempDir()}
	cosign.run(t, "generate-key-pair")
	key := filepath.Join(cosign.dir, "cosign.key")
	sums := exec.Command(os.Getenv("BOLLARD_BIN"), "feed", "sums", dir, "--key", key)
	sums.Env = append(os.Environ(), "COSIGN_PASSWORD=bollard-test")
	if b, err := sums.CombinedOutput(); err != nil {
		t.Fatalf("bollard feed sums: %v\n%s", err, b)
	}
	verify := func() error {
		cmd := exec.Command(cosign.bin, "verify-blob", "--key", filepath.Join(cosign.dir, "cosign.pub"), "--bundle", "SHA256SUMS.sigstore.json",
			"--insecure-ignore-tlog=true", "SHA256SUMS")
		cmd.Dir, cmd.Env = filepath.Join(dir, "targets"), append(os.Environ(), "HOME="+cosign.dir, "TUF_ROOT="+filepath.Join(cosign.dir, "tuf"))
		b, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, b)
		}
		return nil
	}
	if err := verify(); err != nil {
		t.Fatalf("cosign verify-blob of the feed's SHA256SUMS: %v", err)
	}
	check := exec.Command("sha256sum", "-c", "SHA256SUMS")
	check.Dir = filepath.Join(dir, "targets")
	if b, err := check.CombinedOutput(); err != nil || strings.Count(string(b), ": OK") < 5 {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, b)
	}
	list, _ := os.ReadFile(filepath.Join(dir, "targets", "SHA256SUMS"))
	if err := os.WriteFile(filepath.Join(dir, "targets", "SHA256SUMS"), append(list, []byte("0000  evil\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := verify(); err == nil {
		t.Error("cosign verified a changed SHA256SUMS")
	}
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func exitCodeOf(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
