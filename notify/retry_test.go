package notify

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryOn5xxThenDeliveredOnce(t *testing.T) {
	r := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	key := []byte("k")
	n, _ := start(t, []Target{{Name: t.Name(), URL: r.URL, Secret: key}}, Options{Backoff: 10 * time.Millisecond})
	sent, failed := counter(t.Name(), RolledBack, "sent"), counter(t.Name(), RolledBack, "failed")
	n.Notify(Event{Kind: RolledBack, Release: "shop/web", Summary: "rolled back"})

	eventually(t, "the event counted sent", func() bool { return sent() == 1 })
	reqs := r.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d attempts, want 3 (503, 503, 200)", len(reqs))
	}
	for _, req := range reqs[1:] {
		if !bytes.Equal(req.body, reqs[0].body) {
			t.Errorf("a retry sent a different body (a new id or time breaks receivers' de-duplication):\n%s\n%s", reqs[0].body, req.body)
		}
		verifySignature(t, key, req)
	}
	if f := failed(); f != 0 {
		t.Errorf("failed = %d, want 0", f)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	r := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	n, _ := start(t, []Target{{Name: t.Name(), URL: r.URL}}, Options{Backoff: 10 * time.Millisecond})
	sent := counter(t.Name(), Refused, "sent")
	n.Notify(Event{Kind: Refused, Summary: "refused"})

	reqs := r.wait(t, 2)
	if waited := reqs[1].at.Sub(reqs[0].at); waited < 950*time.Millisecond {
		t.Errorf("retried %v after a 429 with Retry-After: 1, want at least 1 s", waited)
	}
	eventually(t, "the event counted sent", func() bool { return sent() == 1 })
}

func TestClientErrorAndRedirectNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(int, http.ResponseWriter)
		want   []string // in the log
	}{
		{"400", func(_ int, w http.ResponseWriter) { http.Error(w, "invalid_payload", http.StatusBadRequest) },
			[]string{`"status"=400`, "invalid_payload"}},
		// A redirect is a misconfigured URL; following it would send the signed body elsewhere.
		{"302", func(_ int, w http.ResponseWriter) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
		}, []string{`"status"=302`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.answer)
			n, logs := start(t, []Target{{Name: t.Name(), URL: r.URL, Secret: []byte("k")}}, Options{Backoff: 10 * time.Millisecond})
			failed := counter(t.Name(), Succeeded, "failed")
			n.Notify(Event{Kind: Succeeded, Summary: "rolled out"})

			eventually(t, "the event counted failed", func() bool { return failed() == 1 })
			if got := len(r.requests()); got != 1 {
				t.Errorf("%d requests, want 1: no retry, no redirect followed", got)
			}
			log := logs.String()
			for _, want := range append(tc.want, `"target"="`+t.Name()+`"`) {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %s:\n%s", want, log)
				}
			}
			if strings.Contains(log, r.URL) {
				t.Errorf("log shows the target's URL (a Slack URL is a credential):\n%s", log)
			}
		})
	}
}

func TestReceiverDownRetriedThenFailedAndLaterEventsSent(t *testing.T) {
	// A port with nothing listening: every attempt is a refused connection.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	n, logs := start(t, []Target{{Name: t.Name(), URL: "http://" + addr + "/services/T0/B0/s3cr3t"}},
		Options{Client: &http.Client{Transport: tr}, Retries: 2, Backoff: 10 * time.Millisecond})
	sent, failed := counter(t.Name(), RollbackFailed, "sent"), counter(t.Name(), RollbackFailed, "failed")
	n.Notify(Event{Kind: RollbackFailed, Release: "shop/web", Summary: "first"})

	eventually(t, "the event counted failed", func() bool { return failed() == 1 })
	if got := dials.Load(); got != 3 {
		t.Errorf("%d attempts, want 3 (the first and Retries: 2)", got)
	}
	if log := logs.String(); !strings.Contains(log, "connection refused") || strings.Contains(log, "s3cr3t") {
		t.Errorf("want the failure logged (connection refused) without the URL:\n%s", log)
	}

	// The receiver comes back on the same address: the next event goes out.
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	got := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.URL.Path })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	n.Notify(Event{Kind: RollbackFailed, Release: "shop/web", Summary: "second"})
	select {
	case p := <-got:
		if p != "/services/T0/B0/s3cr3t" {
			t.Errorf("path %q, want the target URL's", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event after a failed one was not delivered")
	}
	eventually(t, "the second event counted sent", func() bool { return sent() == 1 })
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		name, header string
		want         time.Duration
	}{
		{"seconds", "3", 3 * time.Second},
		{"capped at a minute", "86400", time.Minute},
		{"HTTP date", now.Add(2 * time.Second).Format(http.TimeFormat), 2 * time.Second},
		{"date past", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"negative", "-1", 0},
		{"garbage", "soon", 0},
		{"absent", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.header, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

func TestBackoffDoublesWithJitterAndCap(t *testing.T) {
	n := New(nil, Options{Backoff: time.Second})
	for attempt, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: time.Minute, 30: time.Minute} {
		for range 50 {
			got := n.backoffBefore(attempt)
			if got < base || got > min(base+base/4, time.Minute) {
				t.Fatalf("wait before retry %d = %v, want %v plus up to 25%% (at most a minute)", attempt, got, base)
			}
		}
	}
}
