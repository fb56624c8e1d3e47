package source

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/net/proxy"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// DefaultMaxFetchBytes bounds what a git server may send in one HTTP(S) response, or over one SSH
// connection (refs and pack included): a repository that large is refused instead of filling the
// daemon's memory or disk. Fetches are shallow, so a pack holds the tips of branches and tags, not
// the history.
const DefaultMaxFetchBytes = 512 << 20

var maxFetchBytes atomic.Int64

func init() {
	maxFetchBytes.Store(DefaultMaxFetchBytes)
	// go-git's transports are per scheme and process-wide: bollard's HTTP ones count. (go-git
	// needs an *http.Transport only for per-endpoint TLS or proxy options, which bollard does
	// not set: FetchOptions.CABundle, InsecureSkipTLS or ProxyOptions would need this changed.)
	for _, scheme := range []string{"http", "https"} {
		client.InstallProtocol(scheme, githttp.NewClient(&http.Client{Transport: capped{http.DefaultTransport}}))
	}
	// go-git dials SSH servers itself, through a proxy dialer when a fetch names one: bollard's
	// SSH fetches name cappedScheme, whose dialer counts what each connection reads.
	proxy.RegisterDialerType(cappedScheme, func(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
		v, _ := sshFetches.Load(u.Host)
		f, _ := v.(*sshFetch)
		if f == nil {
			return nil, fmt.Errorf("no SSH fetch %s", u.Host)
		}
		return f, nil
	})
}

const cappedScheme = "bollard-capped"

var (
	sshFetches sync.Map // id → *sshFetch
	sshFetchID atomic.Int64
)

// sshFetch is one SSH fetch's dialer: direct connections whose reads stop past maxFetchBytes.
type sshFetch struct {
	id     string
	capped atomic.Pointer[error] // why the cap cut a connection
}

// cappedSSH returns the proxy options that send one fetch's SSH connections through a capped
// dialer, and a function ending it that says so in err when the cap cut the connection.
func cappedSSH() (transport.ProxyOptions, func(error) error) {
	f := &sshFetch{id: strconv.FormatInt(sshFetchID.Add(1), 10)}
	sshFetches.Store(f.id, f)
	return transport.ProxyOptions{URL: cappedScheme + "://" + f.id}, func(err error) error {
		sshFetches.Delete(f.id)
		if why := f.capped.Load(); err != nil && why != nil {
			return fmt.Errorf("%v: %w", *why, err)
		}
		return err
	}
}

func (f *sshFetch) Dial(network, addr string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, addr)
}

func (f *sshFetch) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 30 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &cappedConn{Conn: c, capReader: capReader{r: c, left: maxFetchBytes.Load(), over: func() error {
		err := tooLarge(addr, "over one SSH connection")
		f.capped.Store(&err)
		return err
	}}}, nil
}

// cappedConn is a connection whose reads stop past its budget.
type cappedConn struct {
	net.Conn
	capReader
}

func (c *cappedConn) Read(p []byte) (int, error) { return c.capReader.Read(p) }

// capped ends a response body with an error once it is over maxFetchBytes.
type capped struct{ rt http.RoundTripper }

func (c capped) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	host := r.URL.Host
	resp.Body = &limitedBody{Closer: resp.Body, capReader: capReader{r: resp.Body, left: maxFetchBytes.Load(),
		over: func() error { return tooLarge(host, "in one response") }}}
	return resp, nil
}

type limitedBody struct {
	io.Closer
	capReader
}

// capReader reads r until left bytes came, then fails with over's error.
type capReader struct {
	r    io.Reader
	left int64
	over func() error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, c.over()
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// tooLarge says a git server sent more than the cap (how: in one response, over one connection).
func tooLarge(host, how string) error {
	return fmt.Errorf("the git server %s sent over %d MiB %s: too large to fetch (fetches are shallow; is it a repository of binaries?)", host, maxFetchBytes.Load()>>20, how)
}
