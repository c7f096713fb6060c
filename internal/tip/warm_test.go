package tip_test

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestWarmOpensAConnectionTheFirstLookupUses(t *testing.T) {
	creds := newCreds(t)
	for _, tc := range []struct {
		name string
		h2   bool
	}{{"HTTP/1.1", false}, {"HTTP/2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newCountingServer(t, creds, tc.h2)
			c := newClient(t, pfxConfig(creds, srv.URL))
			if err := c.Warm(t.Context()); err != nil {
				t.Fatalf("Warm: %v", err)
			}
			if conns, requests, _ := srv.counts(); conns != 1 || requests != 0 {
				t.Fatalf("after Warm: %d connections, %d requests; want 1 connection and no request", conns, requests)
			}
			// Warm returns when the handshake is done; the connection
			// joins the pool just after.
			time.Sleep(100 * time.Millisecond)
			lookupOnce(t, c)
			if conns, requests, _ := srv.counts(); conns != 1 || requests != 1 {
				t.Errorf("after the first lookup: %d connections, %d requests; want the warm connection reused for 1 request", conns, requests)
			}
		})
	}
}

// Warm on a client that already has a connection must not send anything
// either: its request is one that cannot be written.
func TestWarmSendsNothingOverAnOpenConnection(t *testing.T) {
	creds := newCreds(t)
	for _, h2 := range []bool{false, true} {
		srv := newCountingServer(t, creds, h2)
		c := newClient(t, pfxConfig(creds, srv.URL))
		lookupOnce(t, c)
		for range 3 {
			if err := c.Warm(t.Context()); err != nil {
				t.Fatalf("h2=%v: Warm: %v", h2, err)
			}
		}
		lookupOnce(t, c)
		if _, requests, _ := srv.counts(); requests != 2 {
			t.Errorf("h2=%v: the server saw %d requests, want only the 2 lookups", h2, requests)
		}
	}
}

func TestWarmReportsWhyItCouldNotConnect(t *testing.T) {
	creds := newCreds(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := newClient(t, pfxConfig(creds, "https://"+addr))
	err = c.Warm(t.Context())
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("Warm against a closed port = %v, want the dial error", err)
	}

	other := newCreds(t) // a server certificate the client's CA does not sign
	srv := newCountingServer(t, other, false)
	c = newClient(t, pfxConfig(creds, srv.URL))
	var unknown *tls.CertificateVerificationError
	if err := c.Warm(t.Context()); !errors.As(err, &unknown) {
		t.Errorf("Warm against an untrusted server = %v, want the certificate verification error", err)
	}
	if _, requests, _ := srv.counts(); requests != 0 {
		t.Errorf("the server saw %d requests, want none", requests)
	}
}

func TestWarmDoesNothingOverPlainHTTP(t *testing.T) {
	creds := newCreds(t)
	var conns int
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(net.Conn, http.ConnState) { mu.Lock(); conns++; mu.Unlock() }
	srv.Start()
	t.Cleanup(srv.Close)
	if err := newClient(t, tokenConfig(creds, srv.URL)).Warm(t.Context()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if conns != 0 {
		t.Errorf("Warm over plain HTTP opened a connection")
	}
}
