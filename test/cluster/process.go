package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Component is one running control-plane process, as recorded in the cluster's state file.
type Component struct {
	Name string `json:"name"`
	Path string `json:"path"`
	PID  int    `json:"pid"`
	Log  string `json:"log"`

	exited chan struct{} // closed when a process this process started has exited; nil after Load
}

// start runs bin with args, its output going to dir/logs/NAME.log. Detached components start a
// session of their own and outlive this process; attached ones are killed when this process dies,
// so a crashed or timed-out test run leaves nothing behind.
func start(dir, name, bin string, args []string, detach bool) (*Component, error) {
	logPath := filepath.Join(dir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = dir
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &Component{Name: name, Path: bin, PID: cmd.Process.Pid, Log: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// Running reports whether the recorded process is still this component (not a reused PID).
func (c *Component) Running() bool {
	if c.exited != nil {
		select {
		case <-c.exited:
			return false
		default:
			return true
		}
	}
	if c.PID <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.PID))
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	if string(argv0) != c.Path {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.PID))
	if err != nil {
		return false
	}
	// A zombie has exited; only its parent has not reaped it yet.
	_, after, _ := bytes.Cut(stat, []byte(") "))
	return !bytes.HasPrefix(after, []byte("Z"))
}

// stop sends SIGTERM, waits up to grace for the process to go, then kills it.
func (c *Component) stop(grace time.Duration) error {
	if !c.Running() {
		return nil
	}
	if err := syscall.Kill(c.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", c.Name, c.PID, err)
	}
	deadline := time.Now().Add(grace)
	for c.Running() {
		if time.Now().After(deadline) {
			_ = syscall.Kill(c.PID, syscall.SIGKILL)
			deadline = time.Now().Add(grace)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// crashed describes a component that is not running, with the tail of its log.
func (c *Component) crashed() error {
	return fmt.Errorf("%s (pid %d) is not running; last lines of %s:\n%s", c.Name, c.PID, c.Log, tail(c.Log, 20))
}

// tail returns the last n lines of a file, or a note saying why it cannot.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
