package render

import (
	"fmt"
	"sync/atomic"
	"time"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/source"
)

// Bounds of one render: a template that loops for ever, or renders a million objects, fails that
// Release's revision — naming the bound — and nobody else's.
const (
	// DefaultTimeout bounds one render (Within).
	DefaultTimeout = 30 * time.Second
	// MaxObjects bounds the objects one revision renders to.
	MaxObjects = 10000
	// maxOverrun is how many renders that ran out of time may still be running (Helm and kustomize
	// cannot be cancelled: their goroutine ends when they do) before new renders are refused.
	maxOverrun = 4
)

var overrunning atomic.Int32

// Within is Render bounded by timeout (0: DefaultTimeout). A render that overruns is reported as
// such at once; it keeps its goroutine until it ends, and while maxOverrun of them run no other
// render starts.
func Within(timeout time.Duration, files source.Files, root string, spec v1alpha1.Render) ([]Object, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if n := overrunning.Load(); n >= maxOverrun {
		return nil, fmt.Errorf("%s: not rendered: %d earlier renders overran their %s bound and still run", displayRoot(root), n, timeout)
	}
	type result struct {
		objs []Object
		err  error
	}
	done := make(chan result, 1)
	var late atomic.Bool
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- result{err: fmt.Errorf("%s: render failed: %v", displayRoot(root), v)}
			}
			if late.Load() {
				overrunning.Add(-1)
			}
		}()
		objs, err := Render(files, root, spec)
		done <- result{objs, err}
	}()
	select {
	case res := <-done:
		return res.objs, res.err
	case <-time.After(timeout):
		overrunning.Add(1)
		late.Store(true)
		select { // it may have ended just now
		case res := <-done:
			return res.objs, res.err
		default:
		}
		return nil, fmt.Errorf("%s: render took longer than %s: a template or generator that does not end (or a revision too large)", displayRoot(root), timeout)
	}
}
