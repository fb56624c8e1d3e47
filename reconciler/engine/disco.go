package engine

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// gitops-engine makes a new discovery client for every sync step and asks the API server for the
// group versions of the objects it applies — a few discovery documents per Release and step, the
// same for every user. discoveryCache answers those GETs from memory for a while: 1,000 Releases
// synced at once ask once.
type discoveryCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]discoveryEntry
}

type discoveryEntry struct {
	at     time.Time
	status int
	header http.Header
	body   []byte
}

// isDiscovery says whether a request asks for a discovery document: /api, /apis, /api/v1 or
// /apis/<group>/<version>, without a query but client-go's timeout.
func isDiscovery(r *http.Request) bool {
	if q := r.URL.Query(); r.Method != http.MethodGet || len(q) > 1 || len(q) == 1 && !q.Has("timeout") {
		return false
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 1:
		return parts[0] == "api" || parts[0] == "apis"
	case len(parts) == 2:
		return parts[0] == "api"
	case len(parts) == 3:
		return parts[0] == "apis"
	}
	return false
}

func (c *discoveryCache) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if !isDiscovery(r) {
			return rt.RoundTrip(r)
		}
		key := r.URL.Path + "\x00" + r.Header.Get("Accept")
		c.mu.Lock()
		e, ok := c.entries[key]
		c.mu.Unlock()
		if ok && time.Since(e.at) < c.ttl {
			return &http.Response{StatusCode: e.status, Status: http.StatusText(e.status), Header: e.header.Clone(),
				Body: io.NopCloser(bytes.NewReader(e.body)), ContentLength: int64(len(e.body)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
		}
		resp, err := rt.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[string]discoveryEntry{}
		}
		c.entries[key] = discoveryEntry{at: time.Now(), status: resp.StatusCode, header: resp.Header.Clone(), body: body}
		c.mu.Unlock()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
