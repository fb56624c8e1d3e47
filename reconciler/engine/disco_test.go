package engine

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestDiscoveryCache: discovery documents are asked for once within the TTL (per Accept header),
// anything else always goes through.
func TestDiscoveryCache(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	defer srv.Close()
	c := &http.Client{Transport: (&discoveryCache{ttl: time.Minute}).wrap(http.DefaultTransport)}
	get := func(path string) string {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for i := range 4 {
		for _, p := range []string{"/api", "/apis", "/api/v1", "/apis/apps/v1"} {
			q := ""
			if i%2 == 1 {
				q = "?timeout=32s" // client-go's discovery client always asks so
			}
			if got := get(p + q); got != p {
				t.Fatalf("%s: %q", p, got)
			}
		}
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("discovery asked %d times, want 4", n)
	}
	get("/api/v1/namespaces/shop/configmaps/a")
	get("/api/v1/namespaces/shop/configmaps/a")
	get("/apis/apps/v1?watch=true")
	get("/apis/apps/v1?timeout=32s&watch=true")
	if n := hits.Load(); n != 8 {
		t.Errorf("other requests: %d in all, want 8", n)
	}
}
