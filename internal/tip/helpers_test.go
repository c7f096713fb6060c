package tip_test

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/tipsim"
)

func newCreds(t testing.TB) *tipsim.Credentials {
	t.Helper()
	creds, err := tipsim.NewCredentials(24 * time.Hour)
	if err != nil {
		t.Fatalf("NewCredentials: %v", err)
	}
	return creds
}

// newTLSServer starts a loopback TLS server with creds' server certificate
// that verifies client certificates against creds' CA as clientAuth says.
func newTLSServer(t testing.TB, creds *tipsim.Credentials, clientAuth tls.ClientAuthType, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{creds.Server},
		ClientAuth:   clientAuth,
		ClientCAs:    creds.ClientCAs(),
		MinVersion:   tls.VersionTLS12,
	}
	// Handshake failures are expected in some tests; keep them off stderr.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func pfxConfig(creds *tipsim.Credentials, baseURL string) tip.Config {
	return tip.Config{
		BaseURL:     baseURL,
		Username:    creds.Username,
		Password:    creds.Password,
		PFX:         creds.ClientPFX,
		PFXPassword: creds.PFXPassword,
		CAPEM:       creds.CAPEM,
	}
}

func tokenConfig(creds *tipsim.Credentials, baseURL string) tip.Config {
	return tip.Config{BaseURL: baseURL, Token: creds.Token, CAPEM: creds.CAPEM}
}

func newClient(t testing.TB, cfg tip.Config) *tip.Client {
	t.Helper()
	c, err := tip.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// recorder is a handler that remembers the last request it saw and answers
// with a fixed status and body.
type recorder struct {
	mu     sync.Mutex
	last   *http.Request
	status int
	body   string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.last = r.Clone(r.Context())
	status, body := rec.status, rec.body
	rec.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	if body == "" {
		body = `{"Zone":"Grey"}`
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (rec *recorder) request(t *testing.T) *http.Request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.last == nil {
		t.Fatal("the server saw no request")
	}
	return rec.last
}
