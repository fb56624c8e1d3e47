package egress

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCheck: listed names (globs, with a port), addresses and CIDRs pass; anything else — the
// metadata endpoint, a public host, another scheme — is refused, naming the flag.
func TestCheck(t *testing.T) {
	g, err := Parse(append(DefaultHosts, "prometheus.monitoring:9090", "10.0.0.0/8", "127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	for u, ok := range map[string]bool{
		"http://web.shop.svc/smoke":                    true,
		"http://web.shop.svc.cluster.local:8080/smoke": true,
		"http://WEB.SHOP.SVC./smoke":                   true,
		"http://prometheus.monitoring:9090":            true,
		"http://prometheus.monitoring:9091":            false,
		"http://10.1.2.3:9090":                         true,
		"http://127.0.0.1:8080":                        true,
		"http://169.254.169.254/latest/meta-data/":     false,
		"http://metadata.google.internal/":             false,
		"https://example.com/":                         false,
		"file:///etc/passwd":                           false,
		"http://[::1]:80/":                             false,
	} {
		err := g.Check(u)
		if (err == nil) != ok {
			t.Errorf("%s: %v, want allowed %v", u, err, ok)
		}
		if err != nil && ok == false && strings.HasPrefix(u, "http") && !strings.Contains(err.Error(), "--allowed-hosts") {
			t.Errorf("%s: %v does not name the flag", u, err)
		}
	}
	if _, err := Parse([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR is accepted")
	}
}

// TestTransportRefusesLinkLocal: a name that resolves to a link-local address is refused at dial
// time, a loopback server is reached.
func TestTransportRefusesLinkLocal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	g, _ := Parse(nil)
	c := &http.Client{Transport: g.Transport()}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("loopback: %v", err)
	}
	resp.Body.Close()
	if _, err := c.Get("http://169.254.169.254:1/"); err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Errorf("metadata address: %v", err)
	}
}
