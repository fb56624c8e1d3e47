package e2e

import (
	"os"
	"path/filepath"
	"strings"
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
	exp, prom := startMetrics(t, "1.0.0", "1.1.0")
	exp.set("1.2.0", behaviour{Latency: 30 * time.Millisecond, ErrorRate: 0.5})
	dir := filepath.Join(t.TempDir(), "feed")
	files := t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
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
}
