package reconciler

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/internal/egress"
)

// TestGuard: the one SLO guard a Release and a ChannelRelease step share. A narrow stand-in for
// Prometheus's query API answers the query (the e2e tests run the guard on Debian's Prometheus).
func TestGuard(t *testing.T) {
	var value atomic.Value // "" is no series
	value.Store("0.2")
	var queries atomic.Int32
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries.Add(1)
		if err := r.ParseForm(); err != nil || r.URL.Path != "/api/v1/query" || r.Form.Get("query") != `errors{version="v2"}` {
			http.Error(w, "unexpected query", http.StatusBadRequest)
			return
		}
		result := "[]"
		if v := value.Load().(string); v != "" {
			result = fmt.Sprintf(`[{"metric":{},"value":[%d,%q]}]`, time.Now().Unix(), v)
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":%s}}`, result)
	}))
	defer prom.Close()
	allow, err := egress.Parse([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Egress: allow}
	a := &v1alpha1.Analysis{Prometheus: prom.URL, Hold: &metav1.Duration{Duration: time.Minute},
		Metrics: []v1alpha1.SLOMetric{{Name: "errors", Query: `errors{version="{{version}}"}`, Max: "1"}}}
	now := time.Now()
	ctx := context.Background()
	guard := func(from time.Time, paused bool) guardVerdict {
		return r.guard(ctx, a, "v2", from, paused, 10*time.Second, now)
	}

	if v := guard(now.Add(5*time.Second), false); v.state != guardDelayed || v.wait != 5*time.Second || queries.Load() != 0 {
		t.Errorf("during the initial delay: %+v after %d queries, want delayed 5s without a query", v, queries.Load())
	}
	if v := guard(now.Add(-20*time.Second), false); v.state != guardHolding || v.wait != 10*time.Second || v.elapsed != 20*time.Second || !strings.Contains(v.values, "errors 0.2") {
		t.Errorf("20 s into a 1 min hold: %+v", v)
	}
	if v := guard(now.Add(-55*time.Second), false); v.state != guardHolding || v.wait != 5*time.Second {
		t.Errorf("5 s before the hold ends: %+v, want the next evaluation at its end", v)
	}
	if v := guard(now.Add(-time.Minute), false); v.state != guardHeld {
		t.Errorf("after the hold: %+v, want held", v)
	}
	if v := guard(now.Add(-time.Minute), true); v.state != guardResumed || v.wait != 10*time.Second {
		t.Errorf("data again after a pause: %+v, want resumed (the hold starts again)", v)
	}

	value.Store("4.2")
	if v := guard(now.Add(-12*time.Second), false); v.state != guardBreached || !strings.Contains(v.why, "errors 4.2") || !strings.Contains(v.why, "after 12 s") || !strings.Contains(v.why, `query errors{version="v2"}`) {
		t.Errorf("over its max: %+v, want a breach naming value, time and query", v)
	}

	value.Store("")
	if v := guard(now.Add(-12*time.Second), false); v.state != guardBreached || !strings.Contains(v.why, "no data counts as a failure (onNoData: fail)") {
		t.Errorf("no series under onNoData fail: %+v, want a breach", v)
	}
	a.OnNoData = "pause"
	if v := guard(now.Add(-12*time.Second), false); v.state != guardPaused || v.wait != 10*time.Second || !strings.Contains(v.values, "no series") {
		t.Errorf("no series under onNoData pause: %+v, want paused", v)
	}
	value.Store("4.2") // a breach is a breach, paused or not
	if v := guard(now.Add(-12*time.Second), true); v.state != guardBreached {
		t.Errorf("a breach while paused: %+v", v)
	}

	n := queries.Load()
	a.Prometheus = "http://169.254.169.254/api"
	if v := guard(now.Add(-12*time.Second), false); v.state != guardBreached || !strings.HasPrefix(v.why, "Prometheus ") || queries.Load() != n {
		t.Errorf("a Prometheus outside the egress allowlist: %+v, want a breach without a query", v)
	}
}
