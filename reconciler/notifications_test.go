package reconciler

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/notify"
)

// TestNotifyLogs: a change that ends is notified once, by how it ended — rolled back (a halt
// too), rollback failed, refused, succeeded — and a log still verifying or one that had ended
// before is not.
func TestNotifyLogs(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e struct {
			Type string `json:"type"`
		}
		_ = json.NewDecoder(r.Body).Decode(&e)
		mu.Lock()
		kinds = append(kinds, e.Type)
		mu.Unlock()
	}))
	defer srv.Close()
	n := notify.New([]notify.Target{{Name: "t", URL: srv.URL}}, notify.Options{Log: logr.Discard()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	r := &Reconciler{Notifier: n}
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}
	log := func(id int64, s v1alpha1.LogStatus) v1alpha1.DeploymentLog {
		return v1alpha1.DeploymentLog{ID: id, Revision: "3f9c2e1a7b", Status: s, Steps: []v1alpha1.LogStep{{Name: "health", Detail: "1/1 Ready"}}}
	}
	before := &v1alpha1.ReleaseStatus{History: []v1alpha1.DeploymentLog{log(1, "SUCCESS"), log(2, "VERIFYING"), log(3, "VERIFYING"), log(4, "VERIFYING")}}
	after := &v1alpha1.ReleaseStatus{History: []v1alpha1.DeploymentLog{log(1, "SUCCESS"), log(2, "ROLLED_BACK"), log(3, "HALTED"), log(4, "ROLLBACK_FAILED"),
		log(5, "REFUSED"), log(6, "SUCCESS"), log(7, "VERIFYING")}}
	r.notifyLogs(rel, before, after)()
	want := []string{"dev.bollard.refused", "dev.bollard.rollback-failed", "dev.bollard.rolled-back", "dev.bollard.rolled-back", "dev.bollard.succeeded"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(kinds)
		mu.Unlock()
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("notified %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
