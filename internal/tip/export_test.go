package tip

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Hooks for the external tests (package tip_test): they test the client
// through its API, and reach its internals only through these.

const DefaultTimeout = defaultTimeout

func SetMaxBody(c *Client, n int64) { c.maxBody = n }

func Timeout(c *Client) time.Duration { return c.timeout }

// TLSConfig is the TLS configuration of c's transport. Go's own servers
// cannot renegotiate, so tests check the settings that depend on it here.
func TLSConfig(c *Client) *tls.Config {
	return c.http.Transport.(*http.Transport).TLSClientConfig
}

// DialOnly makes c connect to addr whatever host its URL names, so a test can
// present a certificate for another name.
func DialOnly(c *Client, addr string) {
	var d net.Dialer
	tr := c.http.Transport.(*http.Transport)
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}
