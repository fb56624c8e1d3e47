package source

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// DefaultMaxFetchBytes bounds what one HTTP(S) response of a git server may carry (a pack
// included): a repository that large is refused instead of filling the daemon's disk. Fetches are
// shallow, so a pack holds the tips of branches and tags, not the history.
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
}

// capped ends a response body with an error once it is over maxFetchBytes.
type capped struct{ rt http.RoundTripper }

func (c capped) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxFetchBytes.Load(), host: r.URL.Host}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
	host string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("the git server %s sent over %d MiB in one response: too large to fetch (fetches are shallow; is it a repository of binaries?)", b.host, maxFetchBytes.Load()>>20)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
