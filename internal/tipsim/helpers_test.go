package tipsim

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// fixture: a running simulator and a client that holds the certificate.
type simEnv struct {
	creds  *Credentials
	sim    *Sim
	srv    *Server
	client *http.Client // presents the client certificate
	bare   *http.Client // trusts the server, presents no certificate
}

func newCreds(t *testing.T) *Credentials {
	t.Helper()
	c, err := NewCredentials(24 * time.Hour)
	if err != nil {
		t.Fatalf("NewCredentials: %v", err)
	}
	return c
}

// startSim serves a simulator over mTLS on loopback. opts.Credentials is
// filled in when nil.
func startSim(t *testing.T, opts Options) *simEnv {
	t.Helper()
	if opts.Credentials == nil {
		opts.Credentials = newCreds(t)
	}
	sim := New(opts)
	srv, err := Listen("127.0.0.1:0", sim)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	env := &simEnv{creds: opts.Credentials, sim: sim, srv: srv,
		client: tlsClient(t, opts.Credentials, true), bare: tlsClient(t, opts.Credentials, false)}
	return env
}

// tlsClient trusts the simulator's CA and, with withCert, presents the client
// certificate taken from the PFX the way tipgate loads it.
func tlsClient(t *testing.T, c *Credentials, withCert bool) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.CAPEM) {
		t.Fatal("CA PEM holds no certificate")
	}
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if withCert {
		key, leaf, chain, err := pkcs12.DecodeChain(c.ClientPFX, c.PFXPassword)
		if err != nil {
			t.Fatalf("decode PFX: %v", err)
		}
		cert := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
		for _, ca := range chain {
			cert.Certificate = append(cert.Certificate, ca.Raw)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// sections decodes a 200 body into its top-level sections.
func (a answer) sections(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (body %s)", a.status, a.body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, a.body)
	}
	return m
}

// basic authenticates with the credentials' Basic user.
func (e *simEnv) basic(r *http.Request) { r.SetBasicAuth(e.creds.Username, e.creds.Password) }

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// get requests path (e.g. "/api/ip/1.2.3.4?count=2") from the simulator.
func (e *simEnv) get(t *testing.T, client *http.Client, auth func(*http.Request), path string) answer {
	t.Helper()
	a, err := e.try(client, http.MethodGet, auth, path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return a
}

// lookup is get with the certificate and Basic credentials.
func (e *simEnv) lookup(t *testing.T, path string) answer {
	t.Helper()
	return e.get(t, e.client, e.basic, path)
}

func (e *simEnv) try(client *http.Client, method string, auth func(*http.Request), path string) (answer, error) {
	req, err := http.NewRequest(method, e.srv.URL()+path, nil)
	if err != nil {
		return answer{}, err
	}
	if auth != nil {
		auth(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func sortedKeys(m map[string]json.RawMessage) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ",")
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// escapeSegment escapes a value as one path segment, the way tip-api.md §1.3
// tells clients to.
func escapeSegment(v string) string { return strings.ReplaceAll(url.QueryEscape(v), "+", "%20") }

func itoa(n int) string { return strconv.Itoa(n) }

// startPlain serves sim over plain HTTP, where no client certificate can
// ever be verified.
func startPlain(t *testing.T, sim *Sim) string {
	t.Helper()
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}
