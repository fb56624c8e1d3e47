package notify

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// received is one request as a loopback receiver saw it.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a real HTTP server on loopback that records every request. answer writes the
// response to the n-th request (1 for the first); nil answers 200.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Errorf("receiver: reading body: %v", err)
		}
		if req.Method != http.MethodPost {
			t.Errorf("receiver: method %s, want POST", req.Method)
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, received{header: req.Header.Clone(), body: body, at: time.Now()})
		n := len(r.reqs)
		r.mu.Unlock()
		if answer != nil {
			answer(n, w)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// requests is a copy of what has been received so far.
func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// wait returns the first n requests, failing the test if they do not arrive within 10 s.
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	eventually(t, fmt.Sprintf("%d requests at the receiver", n), func() bool { return len(r.requests()) >= n })
	return r.requests()[:n]
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logs collects what a Notifier logs, at every verbosity.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// start runs a Notifier for targets until the test ends, logging into the returned logs.
func start(t *testing.T, targets []Target, opts Options) (*Notifier, *logs) {
	t.Helper()
	l := &logs{}
	opts.Log = funcr.New(func(prefix, args string) {
		l.mu.Lock()
		l.lines = append(l.lines, prefix+" "+args)
		l.mu.Unlock()
	}, funcr.Options{Verbosity: 1})
	n := New(targets, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		n.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return n, l
}

// counter reads bollard_notifications_total for one target, kind and result: how much it grew
// since counter was called (the registry is global, and go test -count=N reruns a test).
func counter(targetName, kind, result string) func() int {
	c := metricNotifications.WithLabelValues(targetName, kind, result)
	base := testutil.ToFloat64(c)
	return func() int { return int(testutil.ToFloat64(c) - base) }
}
