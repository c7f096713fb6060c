package tip_test

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// countingServer counts the connections it accepts and the requests it
// serves, and notes whether each request's TLS session was resumed.
type countingServer struct {
	*httptest.Server
	mu       sync.Mutex
	conns    int
	requests int
	resumed  int
}

func (s *countingServer) counts() (conns, requests, resumed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.requests, s.resumed
}

// newCountingServer starts a TIP stand-in over mTLS, HTTP/1.1 or (h2)
// HTTP/2.
func newCountingServer(t *testing.T, creds *tipsim.Credentials, h2 bool) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		if r.TLS != nil && r.TLS.DidResume {
			s.resumed++
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Zone":"Green"}`))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.EnableHTTP2 = h2
	s.TLS = &tls.Config{Certificates: []tls.Certificate{creds.Server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: creds.ClientCAs()}
	// Handshake failures are expected in one test; keep them off stderr.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func lookupOnce(t *testing.T, c *tip.Client) {
	t.Helper()
	if _, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.Domain, Value: "example.com"}, []string{"Zone"}, 0); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
}

// A connection made after the pool emptied resumes the TLS session rather
// than repeating the full handshake with the client certificate.
func TestLookupResumesTLSSessions(t *testing.T) {
	creds := newCreds(t)
	srv := newCountingServer(t, creds, false)
	c := newClient(t, pfxConfig(creds, srv.URL))
	lookupOnce(t, c)
	c.CloseIdleConnections()
	lookupOnce(t, c)
	if conns, requests, resumed := srv.counts(); conns != 2 || requests != 2 || resumed != 1 {
		t.Errorf("%d connections, %d requests, %d resumed; want the second connection resumed", conns, requests, resumed)
	}
}
