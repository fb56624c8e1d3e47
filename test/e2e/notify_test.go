package e2e

import (
	"context"
	"crypto/hmac"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/notify"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/test/kubetest"
)

// notificationReceiver is a loopback HTTP server that takes only CloudEvents whose HMAC signature
// verifies with its key (401 otherwise), decoded with the CloudEvents SDK.
type notificationReceiver struct {
	mu       sync.Mutex
	events   []event.Event
	rejected int
}

// startNotificationReceiver serves on loopback and writes a notification targets file naming it
// (the key in a file of its own), returning the receiver and the targets file's path.
func startNotificationReceiver(t *testing.T, key []byte, kinds ...string) (*notificationReceiver, string) {
	t.Helper()
	r := &notificationReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if !hmac.Equal([]byte(req.Header.Get(notify.SignatureHeader)), []byte(notify.Sign(key, body))) {
			r.mu.Lock()
			r.rejected++
			r.mu.Unlock()
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e event.Event
		if err := e.UnmarshalJSON(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	events := ""
	if len(kinds) > 0 {
		events = "\n  events: [" + strings.Join(kinds, ", ") + "]"
	}
	targets := filepath.Join(dir, "targets.yaml")
	if err := os.WriteFile(targets, fmt.Appendf(nil, "- name: ops\n  url: %s\n  format: cloudevents\n  secretFile: %s%s\n", srv.URL, filepath.Join(dir, "key"), events), 0o600); err != nil {
		t.Fatal(err)
	}
	return r, targets
}

// wait is the first event of type typ whose data satisfies match.
func (r *notificationReceiver) wait(t *testing.T, env *kubetest.Env, typ string, match func(notify.Data) bool) notify.Data {
	t.Helper()
	var got notify.Data
	env.Eventually(t, 30*time.Second, "a "+typ+" notification", func(context.Context) (bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.events {
			var d notify.Data
			if e.Type() == typ && e.DataAs(&d) == nil && match(d) {
				got = d
				return true, nil
			}
		}
		return false, nil
	})
	return got
}

// TestNotifications: the daemon tells a signed webhook of a change that succeeded, of drift it
// reverted and of a revision refused — CloudEvents the receiver verifies (HMAC) and decodes.
func TestNotifications(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	recv, targets := startNotificationReceiver(t, []byte("notification-key"))
	repo := newGitRepo(t)
	first := repo.commit(t, "settings", map[string]string{"settings.yaml": settingsYAML})
	startDaemonOpts(t, nil, ns, "receiver", t.TempDir(), func(o *reconciler.Options) { o.Notifications = targets })
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
		Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo.url()}, Interval: metav1.Duration{Duration: time.Hour}}}
	if err := env.Client.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	d := recv.wait(t, env, "dev.bollard.succeeded", func(d notify.Data) bool { return d.Release == ns+"/shop" && d.Revision == first })
	if d.Details["logID"] == "" || d.Details["status"] != "SUCCESS" || !strings.Contains(d.Summary, "SUCCESS") {
		t.Errorf("succeeded: %+v", d)
	}

	// Drift, reverted by self-heal.
	var cm corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, &cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["greeting"] = "changed by hand"
	if err := env.Client.Update(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	d = recv.wait(t, env, "dev.bollard.drift-reverted", func(d notify.Data) bool { return d.Release == ns+"/shop" })
	if !strings.Contains(d.Summary, "settings") || !strings.Contains(d.Summary, "data.greeting") {
		t.Errorf("drift-reverted: %+v", d)
	}

	// A revision refused: it names an object that exists and no Release manages.
	if err := env.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "theirs"}}); err != nil {
		t.Fatal(err)
	}
	refused := repo.commit(t, "take theirs", map[string]string{"settings.yaml": settingsYAML, "theirs.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: theirs}\ndata: {a: b}\n"})
	env.Eventually(t, 30*time.Second, "the push seen", func(ctx context.Context) (bool, error) {
		_, code := bollardCLI(t, env, "deploy", "shop", "-n", ns)
		return code == 2, nil
	})
	d = recv.wait(t, env, "dev.bollard.refused", func(d notify.Data) bool { return d.Revision == refused })
	if !strings.Contains(d.Summary, "ConfigMap "+ns+"/theirs exists and no Release manages it") {
		t.Errorf("refused: %+v", d)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if recv.rejected != 0 {
		t.Errorf("%d notifications had a bad signature", recv.rejected)
	}
}
