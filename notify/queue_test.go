package notify

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A receiver that never answers must not slow Notify down: the rollout calling it goes on, and
// what does not fit in the queue is dropped and counted.
func TestNotifyNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(int, http.ResponseWriter) { <-release })
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
	n, logs := start(t, []Target{{Name: t.Name(), URL: r.URL}}, Options{Queue: 10})
	dropped := counter(t.Name(), RolledBack, "dropped")

	n.Notify(Event{Kind: RolledBack, Summary: "stuck"})
	r.wait(t, 1) // the target's one delivery is now hanging: its queue holds 10 more, then drops

	t0 := time.Now()
	for range 1000 {
		n.Notify(Event{Kind: RolledBack, Release: "shop/web", Summary: "rolled back"})
	}
	took := time.Since(t0)
	t.Logf("1000 Notify calls took %v", took)
	if took > 100*time.Millisecond {
		t.Errorf("1000 Notify calls took %v, want well under 100 ms", took)
	}
	if got := dropped(); got != 990 {
		t.Errorf("dropped = %d, want 990 (1000 less a queue of 10)", got)
	}
	log := logs.String()
	if !strings.Contains(log, "queue full") || !strings.Contains(log, t.Name()) {
		t.Errorf("want the drop logged with the target name:\n%s", log)
	}
	if lines := strings.Count(log, "queue full"); lines > 1 {
		t.Errorf("%d \"queue full\" log lines for one burst, want 1", lines)
	}
}

// Without Run (a daemon whose notifier has not started, or has stopped) Notify still returns.
func TestNotifyWithoutRun(t *testing.T) {
	n := New([]Target{{Name: t.Name(), URL: "http://127.0.0.1:9/"}}, Options{Queue: 1})
	dropped := counter(t.Name(), Succeeded, "dropped")
	t0 := time.Now()
	for range 100 {
		n.Notify(Event{Kind: Succeeded})
	}
	if took := time.Since(t0); took > 100*time.Millisecond {
		t.Errorf("100 Notify calls took %v", took)
	}
	if got := dropped(); got != 99 {
		t.Errorf("dropped = %d, want 99", got)
	}
}
