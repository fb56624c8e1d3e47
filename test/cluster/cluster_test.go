package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDetachedLifecycle follows make cluster-up / cluster-down: a detached start recorded in the
// state file, a crash reported with the component's log, and a stop by the recorded PIDs that
// leaves no process behind.
func TestDetachedLifecycle(t *testing.T) {
	ctx := context.Background()
	bin, err := BinDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	started, err := Start(ctx, Options{BinDir: bin, Dir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = started.Stop() })

	client, err := started.Client()
	if err != nil {
		t.Fatal(err)
	}
	node, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the kwok node: %v", err)
	}
	if got := node.Status.Allocatable.Pods().Value(); got != 1000 {
		t.Errorf("node allocatable pods = %d, want 1000", got)
	}

	// What cluster-down sees: only the state file.
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Components) != 5 || loaded.Kubeconfig != started.Kubeconfig {
		t.Fatalf("state file: %d components, kubeconfig %q", len(loaded.Components), loaded.Kubeconfig)
	}
	if err := loaded.Health(); err != nil {
		t.Fatalf("healthy cluster reported unhealthy: %v", err)
	}

	kwok := loaded.Components[len(loaded.Components)-1]
	if kwok.Name != "kwok" {
		t.Fatalf("last component is %s, want kwok", kwok.Name)
	}
	if err := syscall.Kill(kwok.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for kwok.Running() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	health := loaded.Health()
	if health == nil {
		t.Fatal("a killed kwok is not reported")
	}
	for _, want := range []string{"kwok (pid", "is not running", "last lines of " + filepath.Join(dir, "logs", "kwok.log")} {
		if !strings.Contains(health.Error(), want) {
			t.Errorf("health report lacks %q:\n%v", want, health)
		}
	}

	if err := loaded.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, c := range loaded.Components {
		if c.Running() {
			t.Errorf("%s (pid %d) still running after Stop", c.Name, c.PID)
		}
	}
	if _, err := Load(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after Stop: %v, want it gone", err)
	}
}

func TestStartWithoutBinariesSaysWhatIsMissing(t *testing.T) {
	_, err := Start(context.Background(), Options{BinDir: t.TempDir(), Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "binary etcd missing") || !strings.Contains(err.Error(), "build.sh") {
		t.Fatalf("err = %v, want it to name the missing binary and build.sh", err)
	}
}
