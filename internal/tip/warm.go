package tip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
)

// Warm opens one connection to TIP (TCP, and the TLS handshake with the
// client certificate) and leaves it idle in the client's pool, so that the
// first lookup does not pay for it. It sends no request, so it spends no
// quota. It returns once the handshake is done (the connection joins the
// pool a moment later), with the dial's or the handshake's error, or when
// ctx ends (the dial then goes on in the background, bounded by the
// transport's own timeouts). It returns nil at once when the pool already
// had a connection, and does nothing over plain HTTP (a simulator), where
// a connection costs a TCP handshake only.
//
// Why it matters: a cold burst (many callers asking for one indicator that
// is not cached, on a fresh process) waits for the one TIP request, and
// that request's handshake competes for the CPU with every caller's
// request being read; measured on 2 cores with 200 callers, it delayed the
// TIP request by 20-30 ms, which every caller then waited on top of TIP's
// own latency.
//
// How: net/http has no call to open a connection, but it finishes a dial
// that a request started even when that request is cancelled, and pools
// the connection for later requests. Warm starts a request and cancels it
// as soon as its dial begins. The request is also built so that it cannot
// be written on any connection (its target holds a control character and
// its Host header is invalid; HTTP/1.1 and HTTP/2 both refuse such a
// request before sending a byte), so that nothing reaches TIP even when
// the transport hands it a connection after all: one already idle in the
// pool, or a dial that finished before the cancellation was seen.
func (c *Client) Warm(ctx context.Context) error {
	if c.base.Scheme != "https" {
		return nil
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once sync.Once
		done = make(chan error, 1)
	)
	// The hooks run in the transport's dial goroutine, possibly after Warm
	// has returned.
	finish := func(err error) { once.Do(func() { done <- err }) }
	trace := &httptrace.ClientTrace{
		DNSStart:     func(httptrace.DNSStartInfo) { cancel() },
		ConnectStart: func(string, string) { cancel() },
		ConnectDone: func(_, _ string, err error) {
			if err != nil {
				finish(err)
			}
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) { finish(err) },
		// A connection that was open already, or a dial that finished
		// before the cancellation was seen.
		GotConn: func(httptrace.GotConnInfo) { cancel(); finish(nil) },
	}
	req := (&http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Scheme: c.base.Scheme, Host: c.base.Host, Opaque: "/\x7f"},
		Host:   "\x7f",
		Header: http.Header{},
	}).WithContext(httptrace.WithClientTrace(rctx, trace))
	resp, err := c.http.Transport.RoundTrip(req)
	if resp != nil {
		// Unreachable: the request cannot be written.
		drainClose(resp.Body)
	}
	if rctx.Err() == nil {
		// Refused before any dial (a proxy setting the transport cannot
		// use, say): that is the answer.
		if err == nil {
			err = errors.New("the transport answered a request that cannot be sent")
		}
		return warmError(err)
	}
	select {
	case err := <-done:
		return warmError(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func warmError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("opening a connection to TIP ahead of the first lookup: %w", innerError(err))
}
