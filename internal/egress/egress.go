// Package egress limits where the daemon's own HTTP requests go — a Release's prove check and
// its SLO guard's Prometheus, both URLs a tenant writes — to an allowlist, so a Release cannot
// make the daemon fetch a cloud metadata endpoint or an internal admin API.
package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"syscall"
	"time"
)

// DefaultHosts are the in-cluster Services.
var DefaultHosts = []string{"*.svc", "*.svc.cluster.local"}

// Guard is an allowlist of hosts: names with * globs ("*.svc"), optionally with a port
// ("prometheus.monitoring:9090"), IP addresses and CIDRs ("10.0.0.0/8").
type Guard struct {
	names []string
	nets  []*net.IPNet
}

// Parse builds a Guard from the list (the --allowed-hosts flag).
func Parse(list []string) (*Guard, error) {
	g := &Guard{}
	for _, h := range list {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
		case strings.Contains(h, "/"):
			_, n, err := net.ParseCIDR(h)
			if err != nil {
				return nil, fmt.Errorf("allowed host %q: %w", h, err)
			}
			g.nets = append(g.nets, n)
		case net.ParseIP(h) != nil:
			ip := net.ParseIP(h)
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			g.nets = append(g.nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		default:
			if _, err := path.Match(h, ""); err != nil {
				return nil, fmt.Errorf("allowed host %q: %w", h, err)
			}
			g.names = append(g.names, h)
		}
	}
	return g, nil
}

// Check says why rawURL may not be requested (nil when it may): an http(s) URL whose host is
// listed (by name or address).
func (g *Guard) Check(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: only http and https URLs", u.Redacted())
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if ip := net.ParseIP(host); ip != nil {
		if g.allowsIP(ip) {
			return nil
		}
	} else {
		for _, pattern := range g.names {
			name := host
			if strings.Contains(pattern, ":") {
				name = host + ":" + port(u)
			}
			if ok, _ := path.Match(pattern, name); ok {
				return nil
			}
		}
	}
	return fmt.Errorf("%s: host %s is not in the daemon's --allowed-hosts (%s)", u.Redacted(), u.Host, g)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

func (g *Guard) allowsIP(ip net.IP) bool {
	for _, n := range g.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func (g *Guard) String() string {
	parts := append([]string{}, g.names...)
	for _, n := range g.nets {
		parts = append(parts, n.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Transport is an HTTP transport that refuses connections to link-local, unspecified and
// multicast addresses (169.254.169.254, the cloud metadata endpoint) unless an address of the
// list names them — whatever name resolved to them (an ExternalName Service, DNS rebinding).
// It does not follow proxies from the environment.
func (g *Guard) Transport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		if ip == nil || g.allowsIP(ip) {
			return nil
		}
		if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
			return fmt.Errorf("connection to %s refused: link-local, unspecified and multicast addresses only when --allowed-hosts lists them", ip)
		}
		return nil
	}}
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}, TLSHandshakeTimeout: 5 * time.Second, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second}
}
