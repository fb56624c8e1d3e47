package webhook

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// denialLimiter bounds the Warning Events denials create: one per object and reason per
// denialEvery (a CI job retrying every second makes one Event a minute, not sixty), and
// denialBurst at once across all objects, refilled at denialRate — a storm of denials cannot
// flood the API server with Events.
type denialLimiter struct {
	mu      sync.Mutex
	last    map[string]time.Time
	overall *rate.Limiter
}

const (
	denialEvery = time.Minute
	denialRate  = 5 // Events per second across all objects
	denialBurst = 20
	maxDenials  = 10_000 // keys remembered
)

func newDenialLimiter() *denialLimiter {
	return &denialLimiter{last: map[string]time.Time{}, overall: rate.NewLimiter(denialRate, denialBurst)}
}

// allow reports whether an Event for key may be created now.
func (l *denialLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < denialEvery {
		return false
	}
	if !l.overall.AllowN(now, 1) {
		return false
	}
	if len(l.last) >= maxDenials {
		for k, t := range l.last {
			if now.Sub(t) >= denialEvery {
				delete(l.last, k)
			}
		}
		if len(l.last) >= maxDenials {
			return false
		}
	}
	l.last[key] = now
	return true
}

// recordDenial creates a Warning Event "Denied" on the object a write was denied for (rate-limited),
// so `kubectl describe` and event-based alerting show what a CD tool's log may have swallowed.
func (s *Server) recordDenial(ctx context.Context, op, user string, obj *unstructured.Unstructured, reasons []string) {
	if s.denials == nil || obj == nil || obj.GetNamespace() == "" {
		return
	}
	msg := strings.Join(reasons, "; ")
	key := strings.Join([]string{obj.GetNamespace(), obj.GetKind(), obj.GetName(), op, msg}, "\x00")
	if !s.denials.allow(key, time.Now()) {
		return
	}
	if len(msg) > 900 {
		msg = msg[:900] + "…"
	}
	s.event(context.WithoutCancel(ctx), objectRef(obj), corev1.EventTypeWarning, "Denied",
		fmt.Sprintf("%s by %s denied: %s", op, user, msg))
}
