package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
)

// The requests are sent with net/http rather than the CloudEvents SDK's client or slack-go's
// PostWebhook: the signature must cover the exact bytes on the wire, which means encoding the
// body once, signing it and sending those bytes on every retry — and the retry policy (which
// statuses, Retry-After, backoff) has to be the same for both formats. The SDKs build the payloads.

// serve delivers t's events, one at a time, until ctx ends.
func (n *Notifier) serve(ctx context.Context, t *target) {
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-t.queue:
			n.deliver(ctx, t, q)
		}
	}
}

// deliver sends q to t, retrying network errors, 5xx and 429, and counts the outcome. Each
// outcome is logged before it is counted, so that whoever watches the counter finds the log line.
func (n *Notifier) deliver(ctx context.Context, t *target, q queued) {
	log := n.log.WithValues("target", t.Name, "kind", q.Kind, "release", q.Release, "id", q.id)
	counter := func(result string) prometheus.Counter {
		return metricNotifications.WithLabelValues(t.Name, q.Kind, result)
	}
	enc, ok := encoders[t.format()]
	if !ok {
		log.Error(fmt.Errorf("unknown format %q (known: %s)", t.Format, strings.Join(formats(), ", ")), "notification not sent")
		counter(resultFailed).Inc()
		return
	}
	body, contentType, err := enc(n.source, q)
	if err != nil {
		log.Error(err, "notification not sent: cannot encode it")
		counter(resultFailed).Inc()
		return
	}
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := n.post(ctx, t, body, contentType)
		if err == nil {
			log.V(1).Info("notification sent", "attempts", attempt)
			counter(resultSent).Inc()
			return
		}
		if ctx.Err() != nil {
			return // shutting down: the event is neither sent nor failed
		}
		retry := status == 0 || status == http.StatusTooManyRequests || status >= 500
		if !retry || attempt > n.retries {
			log.Error(err, "notification failed", "status", status, "attempts", attempt, "retryable", retry)
			counter(resultFailed).Inc()
			return
		}
		wait := max(n.backoffBefore(attempt), retryAfter)
		log.V(1).Info("notification not delivered; retrying", "error", err.Error(), "status", status, "attempt", attempt, "wait", wait)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// backoffBefore is the wait before retry number attempt (1 for the first): Backoff doubled per
// retry, plus up to 25% jitter so that many daemons do not retry a shared receiver in step,
// capped at maxBackoff.
func (n *Notifier) backoffBefore(attempt int) time.Duration {
	d := n.backoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d += rand.N(d/4 + 1)
	return min(d, maxBackoff)
}

// post sends body once. It returns the response status (0 when there was none), how long a 429
// asked to wait, and an error unless the status was 2xx. Errors never contain the URL: a Slack
// webhook URL is a credential.
func (n *Notifier) post(ctx context.Context, t *target, body []byte, contentType string) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("url: %w", withoutURL(err))
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "bollard-notify")
	if len(t.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(t.Secret, body))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("POST: %w", withoutURL(err))
	}
	defer resp.Body.Close()
	// Read a little of the answer for the log (Slack says why in plain text, e.g.
	// "invalid_payload"), and drain the rest so that the connection can be reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	err = fmt.Errorf("answered %s", resp.Status)
	if s := printable(snippet); s != "" {
		err = fmt.Errorf("%w: %s", err, s)
	}
	var retryAfter time.Duration
	if resp.StatusCode == http.StatusTooManyRequests {
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp.StatusCode, retryAfter, err
}

// Sign is the value of SignatureHeader for body: "sha256=" and the hex HMAC-SHA256 of body with
// secret. A receiver computes the same and compares with hmac.Equal.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date; at most a minute, since
// the target's later events wait too. Anything else, or a time already past, is no wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, int(maxBackoff/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxBackoff)
	}
	return 0
}

// withoutURL drops the URL net/http puts in its errors (`Post "https://hooks.slack.com/…": …`).
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// printable keeps a response body fit for one log line.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(b))
	return strings.TrimSpace(s)
}
