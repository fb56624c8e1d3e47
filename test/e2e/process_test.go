package e2e

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// process is a server the test runs from a Debian package (docker-registry, prometheus), on a
// free loopback port, its output in a log file, killed with the test (or by stop).
type process struct {
	cmd *exec.Cmd
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProcess runs bin (skipping the test, with how to install it, when it is missing) and
// waits until readyURL answers 200.
func startProcess(t testing.TB, bin, install, readyURL string, args ...string) *process {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Skipf("no %s: %s (.ci/run does)", bin, install)
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), bin+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	p := &process{cmd: exec.Command(path, args...)}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logFile.Name())
			t.Fatalf("%s not ready at %s: %v\n%s", bin, readyURL, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}
