// Package configtest owns the test fixtures of tipgate's configuration: a
// directory of real credential files written as an operator mounts them, a
// complete valid environment, and the table of bad configurations every
// layer must refuse. internal/config's tests read the table to check that
// Load names the variable to fix; cmd/tipgate's read it to check that
// `tipgate check-config` and `tipgate serve` refuse exactly the same ones.
// It does not import internal/config, so config's own tests can use it.
package configtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Creds is a CA, a server certificate and key it signed, and a client
// certificate it signed packed as a password-protected PFX. It is made here
// rather than by internal/tipsim so that config's tests build and run on
// their own, whatever state the simulator and its dependencies are in.
type Creds struct {
	CAPEM       []byte
	ServerPEM   []byte
	ServerKey   []byte
	ClientPFX   []byte
	PFXPassword string
}

// Files are the paths a Fixture wrote the credentials to.
type Files struct {
	CA, ServerCert, ServerKey, ClientPFX string
}

// Fixture is a directory of credential files and an API keys file.
type Fixture struct {
	Dir   string
	Creds Creds
	Files Files
	// Keys is a valid API keys file holding one key, APIKey, named "siem"
	// with the lookup role; KeysJSON is its content.
	Keys     string
	KeysJSON string
	APIKey   string
}

// The Basic credentials of PFXEnv.
const (
	Username = "customer"
	Password = "basic-Pw4420"
)

// NewFixture writes a fixture in a directory removed when t ends.
func NewFixture(t testing.TB) *Fixture {
	t.Helper()
	f := &Fixture{Dir: t.TempDir(), Creds: newCreds(t), APIKey: "tg_configtest-Key-6611"}
	f.Files = f.writeCreds(t)
	sum := sha256.Sum256([]byte(f.APIKey))
	f.KeysJSON = `{"keys": [{"name": "siem", "sha256": "` + hex.EncodeToString(sum[:]) + `", "roles": ["lookup"]}]}`
	f.Keys = f.Write(t, "keys.json", f.KeysJSON)
	return f
}

// Write puts content in a file of the fixture's directory and returns its
// path.
func (f *Fixture) Write(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(f.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// PFXEnv is a complete, valid configuration in PFX mode with nothing else
// set.
func (f *Fixture) PFXEnv() map[string]string {
	return map[string]string{
		"TIPGATE_TIP_PFX_FILE":     f.Files.ClientPFX,
		"TIPGATE_TIP_PFX_PASSWORD": f.Creds.PFXPassword,
		"TIPGATE_TIP_USERNAME":     Username,
		"TIPGATE_TIP_PASSWORD":     Password,
		"TIPGATE_API_KEYS_FILE":    f.Keys,
	}
}

// TokenEnv is a complete, valid configuration in token mode with nothing
// else set.
func (f *Fixture) TokenEnv() map[string]string {
	return map[string]string{"TIPGATE_TIP_TOKEN": "tok", "TIPGATE_API_KEYS_FILE": f.Keys}
}

// With returns a copy of env changed by changes; an empty value unsets.
func With(env, changes map[string]string) map[string]string {
	out := make(map[string]string, len(env)+len(changes))
	for k, v := range env {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// Case is one bad configuration.
type Case struct {
	Name string
	Env  map[string]string
	// Var is the variable the refusal must name.
	Var string
	// Component is "" when internal/config's Load refuses the case. Other
	// cases read fine as variables and are refused by the component built
	// from them: "apikey" (the keys file's content) or "tip" (what only the
	// TIP client knows fits in a request).
	Component string
}

// BadCases is every bad configuration the tests know, each on top of
// PFXEnv or TokenEnv and wrong in one variable only.
func (f *Fixture) BadCases(t testing.TB) []Case {
	t.Helper()
	notPEM := f.Write(t, "not.pem", "hello")
	empty := f.Write(t, "empty", "\n")
	missing := filepath.Join(f.Dir, "missing")
	token := f.TokenEnv()
	keys := func(name, content string) string { return f.Write(t, name, content) }
	goodHash := strings.Repeat("ab", 32)

	type c = map[string]string
	cases := []struct {
		name      string
		base      map[string]string // nil means PFXEnv
		changes   map[string]string
		wantVar   string
		component string
	}{
		{"addr without port", nil, c{"TIPGATE_ADDR": "8080"}, "TIPGATE_ADDR", ""},
		{"addr empty port", nil, c{"TIPGATE_ADDR": "localhost:"}, "TIPGATE_ADDR", ""},
		{"tls cert without key", nil, c{"TIPGATE_TLS_CERT_FILE": f.Files.ServerCert}, "TIPGATE_TLS_KEY_FILE", ""},
		{"tls key without cert", nil, c{"TIPGATE_TLS_KEY_FILE": f.Files.ServerKey}, "TIPGATE_TLS_CERT_FILE", ""},
		{"tls pair mismatched", nil, c{"TIPGATE_TLS_CERT_FILE": f.Files.CA, "TIPGATE_TLS_KEY_FILE": f.Files.ServerKey}, "TIPGATE_TLS_CERT_FILE", ""},
		{"tls cert missing", nil, c{"TIPGATE_TLS_CERT_FILE": missing, "TIPGATE_TLS_KEY_FILE": f.Files.ServerKey}, "TIPGATE_TLS_CERT_FILE", ""},
		{"tls key missing", nil, c{"TIPGATE_TLS_CERT_FILE": f.Files.ServerCert, "TIPGATE_TLS_KEY_FILE": missing}, "TIPGATE_TLS_KEY_FILE", ""},
		{"tip url scheme", nil, c{"TIPGATE_TIP_URL": "ftp://tip.example"}, "TIPGATE_TIP_URL", ""},
		{"tip url relative", nil, c{"TIPGATE_TIP_URL": "tip.kaspersky.com"}, "TIPGATE_TIP_URL", ""},
		{"tip url credentials", nil, c{"TIPGATE_TIP_URL": "https://u:p@tip.example"}, "TIPGATE_TIP_URL", ""},
		{"tip url query", nil, c{"TIPGATE_TIP_URL": "https://tip.example/?a=b"}, "TIPGATE_TIP_URL", ""},
		{"tip url empty query", nil, c{"TIPGATE_TIP_URL": "https://tip.example/?"}, "TIPGATE_TIP_URL", ""},
		{"tip url opaque", nil, c{"TIPGATE_TIP_URL": "https:tip.example"}, "TIPGATE_TIP_URL", ""},
		{"tip url unparsable", nil, c{"TIPGATE_TIP_URL": "http://[::1"}, "TIPGATE_TIP_URL", ""},
		{"no tip credentials", c{"TIPGATE_API_KEYS_FILE": f.Keys}, nil, "TIPGATE_TIP_PFX_FILE", ""},
		{"pfx without username", nil, c{"TIPGATE_TIP_USERNAME": ""}, "TIPGATE_TIP_USERNAME", ""},
		{"pfx without password", nil, c{"TIPGATE_TIP_PASSWORD": ""}, "TIPGATE_TIP_PASSWORD", ""},
		{"pfx without pfx password", nil, c{"TIPGATE_TIP_PFX_PASSWORD": ""}, "TIPGATE_TIP_PFX_PASSWORD", ""},
		{"credentials without pfx", nil, c{"TIPGATE_TIP_PFX_FILE": ""}, "TIPGATE_TIP_PFX_FILE", ""},
		{"token with pfx", nil, c{"TIPGATE_TIP_TOKEN": "tok"}, "TIPGATE_TIP_TOKEN", ""},
		{"token with username", token, c{"TIPGATE_TIP_USERNAME": "alice"}, "TIPGATE_TIP_TOKEN", ""},
		{"pfx missing", nil, c{"TIPGATE_TIP_PFX_FILE": missing}, "TIPGATE_TIP_PFX_FILE", ""},
		{"pfx not pkcs12", nil, c{"TIPGATE_TIP_PFX_FILE": f.Files.CA}, "TIPGATE_TIP_PFX_FILE", ""},
		{"pfx wrong password", nil, c{"TIPGATE_TIP_PFX_PASSWORD": "wrong"}, "TIPGATE_TIP_PFX_PASSWORD", ""},
		{"password file missing", nil, c{"TIPGATE_TIP_PASSWORD": "", "TIPGATE_TIP_PASSWORD_FILE": missing}, "TIPGATE_TIP_PASSWORD_FILE", ""},
		{"password file empty", nil, c{"TIPGATE_TIP_PASSWORD": "", "TIPGATE_TIP_PASSWORD_FILE": empty}, "TIPGATE_TIP_PASSWORD_FILE", ""},
		{"pfx password file missing", nil, c{"TIPGATE_TIP_PFX_PASSWORD": "", "TIPGATE_TIP_PFX_PASSWORD_FILE": missing}, "TIPGATE_TIP_PFX_PASSWORD_FILE", ""},
		{"token file missing", token, c{"TIPGATE_TIP_TOKEN": "", "TIPGATE_TIP_TOKEN_FILE": missing}, "TIPGATE_TIP_TOKEN_FILE", ""},
		{"ca missing", nil, c{"TIPGATE_TIP_CA_FILE": missing}, "TIPGATE_TIP_CA_FILE", ""},
		{"ca not pem", nil, c{"TIPGATE_TIP_CA_FILE": notPEM}, "TIPGATE_TIP_CA_FILE", ""},
		{"tip timeout bare number", nil, c{"TIPGATE_TIP_TIMEOUT": "30"}, "TIPGATE_TIP_TIMEOUT", ""},
		{"tip timeout zero", nil, c{"TIPGATE_TIP_TIMEOUT": "0s"}, "TIPGATE_TIP_TIMEOUT", ""},
		{"tip timeout negative", nil, c{"TIPGATE_TIP_TIMEOUT": "-1s"}, "TIPGATE_TIP_TIMEOUT", ""},
		{"redis scheme", nil, c{"TIPGATE_REDIS_URL": "http://127.0.0.1:6379"}, "TIPGATE_REDIS_URL", ""},
		{"redis bare host", nil, c{"TIPGATE_REDIS_URL": "127.0.0.1:6379"}, "TIPGATE_REDIS_URL", ""},
		{"redis database", nil, c{"TIPGATE_REDIS_URL": "redis://127.0.0.1/x"}, "TIPGATE_REDIS_URL", ""},
		{"redis option", nil, c{"TIPGATE_REDIS_URL": "redis://127.0.0.1/0?bogus=1"}, "TIPGATE_REDIS_URL", ""},
		{"redis unix without path", nil, c{"TIPGATE_REDIS_URL": "unix://"}, "TIPGATE_REDIS_URL", ""},
		{"redis unparsable", nil, c{"TIPGATE_REDIS_URL": "redis://[::1"}, "TIPGATE_REDIS_URL", ""},
		{"redis file missing", nil, c{"TIPGATE_REDIS_URL_FILE": missing}, "TIPGATE_REDIS_URL_FILE", ""},
		{"cache ttl zero", nil, c{"TIPGATE_CACHE_TTL": "0"}, "TIPGATE_CACHE_TTL", ""},
		{"cache ttl under a second", nil, c{"TIPGATE_CACHE_TTL": "999ms"}, "TIPGATE_CACHE_TTL", ""},
		{"cache ttl grey bare", nil, c{"TIPGATE_CACHE_TTL_GREY": "1"}, "TIPGATE_CACHE_TTL_GREY", ""},
		{"cache ttl grey under a second", nil, c{"TIPGATE_CACHE_TTL_GREY": "10ms"}, "TIPGATE_CACHE_TTL_GREY", ""},
		{"cache stale negative", nil, c{"TIPGATE_CACHE_STALE": "-1h"}, "TIPGATE_CACHE_STALE", ""},
		{"cache stale words", nil, c{"TIPGATE_CACHE_STALE": "a week"}, "TIPGATE_CACHE_STALE", ""},
		{"memory zero", nil, c{"TIPGATE_CACHE_MEMORY_BYTES": "0"}, "TIPGATE_CACHE_MEMORY_BYTES", ""},
		{"memory one byte", nil, c{"TIPGATE_CACHE_MEMORY_BYTES": "1"}, "TIPGATE_CACHE_MEMORY_BYTES", ""},
		{"memory under a mebibyte", nil, c{"TIPGATE_CACHE_MEMORY_BYTES": "1023KiB"}, "TIPGATE_CACHE_MEMORY_BYTES", ""},
		{"memory unit", nil, c{"TIPGATE_CACHE_MEMORY_BYTES": "64XB"}, "TIPGATE_CACHE_MEMORY_BYTES", ""},
		{"memory negative", nil, c{"TIPGATE_CACHE_MEMORY_BYTES": "-5"}, "TIPGATE_CACHE_MEMORY_BYTES", ""},
		{"memory overflow", nil, c{"TIPGATE_CACHE_MEMORY_BYTES": "9999999999TiB"}, "TIPGATE_CACHE_MEMORY_BYTES", ""},
		{"hot tier negative", nil, c{"TIPGATE_CACHE_HOT_BYTES": "-1"}, "TIPGATE_CACHE_HOT_BYTES", ""},
		{"hot tier under a mebibyte", nil, c{"TIPGATE_CACHE_HOT_BYTES": "64KiB"}, "TIPGATE_CACHE_HOT_BYTES", ""},
		{"hot tier ttl zero", nil, c{"TIPGATE_CACHE_HOT_TTL": "0s"}, "TIPGATE_CACHE_HOT_TTL", ""},
		{"hot tier ttl over a minute", nil, c{"TIPGATE_CACHE_HOT_TTL": "90s"}, "TIPGATE_CACHE_HOT_TTL", ""},
		{"hot tier off, ttl not a duration", nil, c{"TIPGATE_CACHE_HOT_BYTES": "0", "TIPGATE_CACHE_HOT_TTL": "5"}, "TIPGATE_CACHE_HOT_TTL", ""},
		{"limit zero", nil, c{"TIPGATE_DEFAULT_LIMIT": "0"}, "TIPGATE_DEFAULT_LIMIT", ""},
		{"limit too big", nil, c{"TIPGATE_DEFAULT_LIMIT": "1001"}, "TIPGATE_DEFAULT_LIMIT", ""},
		{"limit words", nil, c{"TIPGATE_DEFAULT_LIMIT": "ten"}, "TIPGATE_DEFAULT_LIMIT", ""},
		{"budget negative", nil, c{"TIPGATE_TIP_DAILY_BUDGET": "-1"}, "TIPGATE_TIP_DAILY_BUDGET", ""},
		{"budget words", nil, c{"TIPGATE_TIP_DAILY_BUDGET": "lots"}, "TIPGATE_TIP_DAILY_BUDGET", ""},
		{"concurrency zero", nil, c{"TIPGATE_TIP_CONCURRENCY": "0"}, "TIPGATE_TIP_CONCURRENCY", ""},
		{"concurrency too big", nil, c{"TIPGATE_TIP_CONCURRENCY": "1025"}, "TIPGATE_TIP_CONCURRENCY", ""},
		{"concurrency words", nil, c{"TIPGATE_TIP_CONCURRENCY": "many"}, "TIPGATE_TIP_CONCURRENCY", ""},
		{"probe unknown", nil, c{"TIPGATE_TIP_PROBE": "sometimes"}, "TIPGATE_TIP_PROBE", ""},
		{"kuma cache-only unknown", nil, c{"TIPGATE_KUMA_CACHE_ONLY": "maybe"}, "TIPGATE_KUMA_CACHE_ONLY", ""},
		{"local nets bad address", nil, c{"TIPGATE_LOCAL_NETS": "10.0.0.0/8,10.0.0.300"}, "TIPGATE_LOCAL_NETS", ""},
		{"local nets bad bits", nil, c{"TIPGATE_LOCAL_NETS": "10.0.0.0/33"}, "TIPGATE_LOCAL_NETS", ""},
		{"local nets ipv6", nil, c{"TIPGATE_LOCAL_NETS": "fc00::/7"}, "TIPGATE_LOCAL_NETS", ""},
		{"local nets mapped ipv6", nil, c{"TIPGATE_LOCAL_NETS": "::ffff:10.0.0.1"}, "TIPGATE_LOCAL_NETS", ""},
		{"local nets zero-padded", nil, c{"TIPGATE_LOCAL_NETS": "010.0.0.0/8"}, "TIPGATE_LOCAL_NETS", ""},
		{"local nets only commas", nil, c{"TIPGATE_LOCAL_NETS": " , ,"}, "TIPGATE_LOCAL_NETS", ""},
		{"local nets none among others", nil, c{"TIPGATE_LOCAL_NETS": "none,10.0.0.0/8"}, "TIPGATE_LOCAL_NETS", ""},
		{"local domains empty label", nil, c{"TIPGATE_LOCAL_DOMAINS": "corp,a..b"}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"local domains space", nil, c{"TIPGATE_LOCAL_DOMAINS": "my corp"}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"local domains wildcard", nil, c{"TIPGATE_LOCAL_DOMAINS": "*.corp"}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"local domains not ascii", nil, c{"TIPGATE_LOCAL_DOMAINS": "bücher"}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"local domains kelvin sign", nil, c{"TIPGATE_LOCAL_DOMAINS": "\u212aorp"}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"local domains long label", nil, c{"TIPGATE_LOCAL_DOMAINS": strings.Repeat("a", 64)}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"local domains long name", nil, c{"TIPGATE_LOCAL_DOMAINS": strings.Repeat("abc.", 63) + "corp"}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"local domains only dots", nil, c{"TIPGATE_LOCAL_DOMAINS": ".."}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"local domains url", nil, c{"TIPGATE_LOCAL_DOMAINS": "http://corp"}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"local domains only commas", nil, c{"TIPGATE_LOCAL_DOMAINS": ","}, "TIPGATE_LOCAL_DOMAINS", ""},
		{"trusted proxies bad address", nil, c{"TIPGATE_TRUSTED_PROXIES": "10.0.0.1,10.0.0.256"}, "TIPGATE_TRUSTED_PROXIES", ""},
		{"trusted proxies hostname", nil, c{"TIPGATE_TRUSTED_PROXIES": "proxy.corp"}, "TIPGATE_TRUSTED_PROXIES", ""},
		{"trusted proxies bad bits", nil, c{"TIPGATE_TRUSTED_PROXIES": "fd00::/129"}, "TIPGATE_TRUSTED_PROXIES", ""},
		{"trusted proxies only commas", nil, c{"TIPGATE_TRUSTED_PROXIES": ","}, "TIPGATE_TRUSTED_PROXIES", ""},
		{"keys unset", nil, c{"TIPGATE_API_KEYS_FILE": ""}, "TIPGATE_API_KEYS_FILE", ""},
		{"keys missing", nil, c{"TIPGATE_API_KEYS_FILE": missing}, "TIPGATE_API_KEYS_FILE", ""},
		{"auth unknown", nil, c{"TIPGATE_AUTH": "maybe"}, "TIPGATE_AUTH", ""},
		{"log level", nil, c{"TIPGATE_LOG_LEVEL": "verbose"}, "TIPGATE_LOG_LEVEL", ""},
		{"shutdown zero", nil, c{"TIPGATE_SHUTDOWN_TIMEOUT": "0s"}, "TIPGATE_SHUTDOWN_TIMEOUT", ""},
		{"request timeout words", nil, c{"TIPGATE_REQUEST_TIMEOUT": "x"}, "TIPGATE_REQUEST_TIMEOUT", ""},

		// Read fine as variables; refused by what is built from them.
		{"keys empty", nil, c{"TIPGATE_API_KEYS_FILE": empty}, "TIPGATE_API_KEYS_FILE", "apikey"},
		{"keys file not JSON", nil, c{"TIPGATE_API_KEYS_FILE": keys("keys-broken.json", `{"keys": [`)}, "TIPGATE_API_KEYS_FILE", "apikey"},
		{"keys file without keys", nil, c{"TIPGATE_API_KEYS_FILE": keys("keys-none.json", `{"keys": []}`)}, "TIPGATE_API_KEYS_FILE", "apikey"},
		{"keys file misspelled role", nil, c{"TIPGATE_API_KEYS_FILE": keys("keys-role.json",
			`{"keys": [{"name": "siem", "sha256": "`+goodHash+`", "roles": ["lookpu"]}]}`)}, "TIPGATE_API_KEYS_FILE", "apikey"},
		{"keys file short sha256", nil, c{"TIPGATE_API_KEYS_FILE": keys("keys-hash.json",
			`{"keys": [{"name": "siem", "sha256": "ab", "roles": ["lookup"]}]}`)}, "TIPGATE_API_KEYS_FILE", "apikey"},
		{"keys file unknown member", nil, c{"TIPGATE_API_KEYS_FILE": keys("keys-member.json",
			`{"keys": [{"name": "siem", "sha256": "`+goodHash+`", "role": ["lookup"]}]}`)}, "TIPGATE_API_KEYS_FILE", "apikey"},
		{"username with colon", nil, c{"TIPGATE_TIP_USERNAME": "cust:omer"}, "TIPGATE_TIP_USERNAME", "tip"},
		{"token with space", token, c{"TIPGATE_TIP_TOKEN": "tok en"}, "TIPGATE_TIP_TOKEN", "tip"},
	}
	out := make([]Case, len(cases))
	for i, tc := range cases {
		base := tc.base
		if base == nil {
			base = f.PFXEnv()
		}
		out[i] = Case{Name: tc.name, Env: With(base, tc.changes), Var: tc.wantVar, Component: tc.component}
	}
	return out
}

func newCreds(t testing.TB) Creds {
	t.Helper()
	now := time.Now()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	create := func(tmpl, parent *x509.Certificate, pub, signer any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	certPEM := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}

	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	ca := create(caTmpl, caTmpl, &caKey.PublicKey, caKey)

	srvKey := newKey()
	srv := create(&x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &srvKey.PublicKey, caKey)
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}

	cliKey := newKey()
	cli := create(&x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "customer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &cliKey.PublicKey, caKey)
	const pfxPassword = "pfx-Pw7731"
	pfx, err := pkcs12.Modern.Encode(cliKey, cli, []*x509.Certificate{ca}, pfxPassword)
	if err != nil {
		t.Fatal(err)
	}
	return Creds{
		CAPEM:       certPEM(ca),
		ServerPEM:   certPEM(srv),
		ServerKey:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: srvKeyDER}),
		ClientPFX:   pfx,
		PFXPassword: pfxPassword,
	}
}

func (f *Fixture) writeCreds(t testing.TB) Files {
	t.Helper()
	files := Files{
		CA:         filepath.Join(f.Dir, "ca.pem"),
		ServerCert: filepath.Join(f.Dir, "server.pem"),
		ServerKey:  filepath.Join(f.Dir, "server-key.pem"),
		ClientPFX:  filepath.Join(f.Dir, "client.pfx"),
	}
	for path, data := range map[string][]byte{files.CA: f.Creds.CAPEM, files.ServerCert: f.Creds.ServerPEM, files.ServerKey: f.Creds.ServerKey, files.ClientPFX: f.Creds.ClientPFX} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}
