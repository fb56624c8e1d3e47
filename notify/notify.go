// Package notify tells people and systems what bollard did: a Release refused, rolled back or
// failed to roll back, drift reverted or reported, break-glass used, a rollout that succeeded.
//
// A Notifier sends each Event to the Targets that want its kind, as a CloudEvents 1.0 JSON POST or
// a Slack incoming-webhook message, signed with HMAC-SHA256 when the target has a secret, and
// retried with backoff. Notify never blocks: a rollout never waits on a notification, and when a
// target's queue is full the event is dropped (and counted) rather than held.
package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Event kinds: what happened. A Target's Events lists the kinds it wants.
const (
	Refused        = "refused"
	RolledBack     = "rolled-back"
	RollbackFailed = "rollback-failed"
	DriftReverted  = "drift-reverted"
	DriftReported  = "drift-reported"
	BreakGlass     = "break-glass"
	Succeeded      = "succeeded"
)

// kinds are the event kinds a target may ask for, in the order the docs list them.
var kinds = []string{Refused, RolledBack, RollbackFailed, DriftReverted, DriftReported, BreakGlass, Succeeded}

// Target formats.
const (
	// FormatCloudEvents is a CloudEvents 1.0 structured-mode JSON POST
	// (content type application/cloudevents+json) of type "dev.bollard.<kind>".
	FormatCloudEvents = "cloudevents"
	// FormatSlack is a Slack incoming-webhook message: text (the fallback and notification line)
	// plus blocks.
	FormatSlack = "slack"
)

// SignatureHeader carries "sha256=<hex of HMAC-SHA256(secret, body)>" when a target has a secret
// (GitHub's scheme): a receiver recomputes it over the exact body bytes and compares in constant
// time. It authenticates the body, not its freshness: a receiver that must reject replays
// remembers the CloudEvents id (the same on every retry of one event).
const SignatureHeader = "X-Bollard-Signature"

// Event is one notification: what happened to which Release (or, for break-glass, which object),
// when, and a one-line summary plus details.
type Event struct {
	Kind     string // one of the kinds above
	Release  string // "namespace/name" ("" for break-glass from the webhook)
	Revision string
	// Summary is one line, e.g. "revision 3f9c2e1 rolled back: errors 4.2% > 1%".
	Summary string
	// Details are sent as they are to every target that wants the kind, e.g. "logID", "user",
	// "reason", "digest": never put a secret here.
	Details map[string]string
	Time    time.Time // zero: when Notify was called
	LogURL  string    // optional: where the Deployment Log can be read
}

// Target is one destination.
type Target struct {
	Name string // in logs and in the metric's target label; the URL is never logged
	// URL receives a POST per event. A Slack webhook URL is itself a credential: Load can read it
	// from a file or the environment.
	URL string
	// Format is FormatCloudEvents (also when empty) or FormatSlack.
	Format string
	// Secret is the HMAC-SHA256 key; when set every request carries SignatureHeader.
	Secret []byte
	// Events are the kinds to send; empty: all.
	Events []string
}

// String names the target without its URL or secret, so that a Target in a log or an error
// leaks neither.
func (t Target) String() string {
	signed := "unsigned"
	if len(t.Secret) > 0 {
		signed = "signed"
	}
	events := "all events"
	if len(t.Events) > 0 {
		events = strings.Join(t.Events, ",")
	}
	return fmt.Sprintf("%s (%s, %s, %s)", t.Name, t.format(), signed, events)
}

func (t Target) format() string {
	if t.Format == "" {
		return FormatCloudEvents
	}
	return t.Format
}

// wants reports whether the target asked for events of kind.
func (t Target) wants(kind string) bool {
	return len(t.Events) == 0 || slices.Contains(t.Events, kind)
}

// Options tune a Notifier; the zero value gives the defaults.
type Options struct {
	Log logr.Logger
	// Client sends the requests; nil: one with a 10 s timeout, TLS 1.2 or later, and no
	// redirects followed (a 3xx fails the delivery: it is a misconfigured URL, and following it
	// would send the signed body somewhere else).
	Client *http.Client
	// Retries after the first attempt, for network errors, 5xx and 429; 0: 5; negative: none.
	Retries int
	// Backoff is the first wait before a retry, doubled for each further one, capped at a
	// minute, with up to 25% jitter added; 0: 1 s. A 429's Retry-After is waited for when it
	// is longer (also capped at a minute).
	Backoff time.Duration
	// Queue is how many events wait per target while one is being delivered; 0: 1000.
	Queue int
	// Source names this sender, e.g. the cluster and component ("prod-eu/daemon"); the
	// CloudEvents source is "bollard/<Source>", or "bollard" when empty.
	Source string
}

const (
	defaultRetries = 5
	defaultBackoff = time.Second
	maxBackoff     = time.Minute
	defaultQueue   = 1000
	defaultTimeout = 10 * time.Second
	// dropLogEvery limits the "queue full" log to one line per interval (with the count since the
	// last one) so a flood of dropped events does not become a flood of log lines.
	dropLogEvery = 10 * time.Second
)

// Notifier delivers events to targets in the background: Notify queues, Run sends.
type Notifier struct {
	log     logr.Logger
	client  *http.Client
	retries int
	backoff time.Duration
	source  string
	targets []*target

	running     atomic.Bool
	dropped     atomic.Int64 // since the last "queue full" log line
	lastDropLog atomic.Int64 // unix nanoseconds
}

// target is a Target with its own queue, so that a slow or unreachable target delays only itself.
type target struct {
	Target
	queue chan queued
}

// queued is an event with the id every target and every retry sends for it.
type queued struct {
	Event
	id string
}

// New returns a Notifier for targets; nothing is sent until Run.
func New(targets []Target, opts Options) *Notifier {
	n := &Notifier{log: opts.Log, client: opts.Client, retries: opts.Retries, backoff: opts.Backoff, source: "bollard"}
	if n.client == nil {
		n.client = defaultClient()
	}
	switch {
	case n.retries == 0:
		n.retries = defaultRetries
	case n.retries < 0:
		n.retries = 0
	}
	if n.backoff <= 0 {
		n.backoff = defaultBackoff
	}
	if opts.Source != "" {
		n.source = "bollard/" + opts.Source
		if _, err := url.Parse(n.source); err != nil {
			n.log.Error(err, "notification source is not a URI reference; using \"bollard\"", "source", opts.Source)
			n.source = "bollard"
		}
	}
	size := opts.Queue
	if size <= 0 {
		size = defaultQueue
	}
	for _, t := range targets {
		n.targets = append(n.targets, &target{Target: t, queue: make(chan queued, size)})
	}
	return n
}

func defaultClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	return &http.Client{
		Timeout:       defaultTimeout,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Notify queues e for every target that wants its kind and returns at once. When a target's
// queue is full the event is dropped for that target, counted in bollard_notifications_total
// with result "dropped", and logged (at most one line per 10 s, with the count).
func (n *Notifier) Notify(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Details = maps.Clone(e.Details) // the caller may reuse its map; targets read ours later
	q := queued{Event: e}
	for _, t := range n.targets {
		if !t.wants(e.Kind) {
			continue
		}
		if q.id == "" {
			q.id = rand.Text()
		}
		select {
		case t.queue <- q:
		default:
			metricNotifications.WithLabelValues(t.Name, e.Kind, resultDropped).Inc()
			n.logDrop(t.Name, e)
		}
	}
}

func (n *Notifier) logDrop(targetName string, e Event) {
	n.dropped.Add(1)
	now, last := time.Now().UnixNano(), n.lastDropLog.Load()
	if now-last < int64(dropLogEvery) || !n.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	n.log.Info("notification queue full: event dropped", "target", targetName, "kind", e.Kind,
		"release", e.Release, "dropped", n.dropped.Swap(0))
}

// Run delivers queued events until ctx ends; the daemon starts it in a goroutine, once. Each
// target is served on its own, in the order its events were queued. Events still queued when ctx
// ends are not sent.
func (n *Notifier) Run(ctx context.Context) {
	if !n.running.CompareAndSwap(false, true) {
		n.log.Error(nil, "notifier already running: a second Run would reorder events; ignored")
		return
	}
	var wg sync.WaitGroup
	for _, t := range n.targets {
		wg.Go(func() { n.serve(ctx, t) })
	}
	wg.Wait()
}
