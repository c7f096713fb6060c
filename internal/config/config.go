// Package config owns tipgate's start-up configuration: reading every
// TIPGATE_* environment variable (and the _FILE form of each secret), applying
// the defaults DESIGN.md sets, reading the files the variables name (PFX, CA
// bundle, API keys), and validating all of it before anything starts. Load
// reports every problem at once, each naming the variable to fix, and never
// shows a secret's value, in its errors or in the summary it logs.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tipgate/tipgate/internal/localnet"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// The variables, as DESIGN.md "Configuration" names them. The last three are
// tipgate's own additions, not in the design table.
const (
	envAddr           = "TIPGATE_ADDR"
	envTLSCertFile    = "TIPGATE_TLS_CERT_FILE"
	envTLSKeyFile     = "TIPGATE_TLS_KEY_FILE"
	envTIPURL         = "TIPGATE_TIP_URL"
	envTIPUsername    = "TIPGATE_TIP_USERNAME"
	envTIPPassword    = "TIPGATE_TIP_PASSWORD"
	envTIPPFXFile     = "TIPGATE_TIP_PFX_FILE"
	envTIPPFXPassword = "TIPGATE_TIP_PFX_PASSWORD"
	envTIPToken       = "TIPGATE_TIP_TOKEN"
	envTIPCAFile      = "TIPGATE_TIP_CA_FILE"
	envTIPTimeout     = "TIPGATE_TIP_TIMEOUT"
	envRedisURL       = "TIPGATE_REDIS_URL"
	envCacheTTL       = "TIPGATE_CACHE_TTL"
	envCacheTTLGrey   = "TIPGATE_CACHE_TTL_GREY"
	envCacheStale     = "TIPGATE_CACHE_STALE"
	envDefaultLimit   = "TIPGATE_DEFAULT_LIMIT"
	envDailyBudget    = "TIPGATE_TIP_DAILY_BUDGET"
	envTIPConcurrency = "TIPGATE_TIP_CONCURRENCY"
	envTIPProbe       = "TIPGATE_TIP_PROBE"
	envLocalNets      = "TIPGATE_LOCAL_NETS"
	envLocalDomains   = "TIPGATE_LOCAL_DOMAINS"
	envKUMACacheOnly  = "TIPGATE_KUMA_CACHE_ONLY"
	envAPIKeysFile    = "TIPGATE_API_KEYS_FILE"
	envAuth           = "TIPGATE_AUTH"
	envLogLevel       = "TIPGATE_LOG_LEVEL"

	envShutdownTimeout = "TIPGATE_SHUTDOWN_TIMEOUT"
	envRequestTimeout  = "TIPGATE_REQUEST_TIMEOUT"
	envCacheMemory     = "TIPGATE_CACHE_MEMORY_BYTES"

	// fileSuffix turns a secret's variable into the one naming a file that
	// holds it, as container secrets are mounted.
	fileSuffix = "_FILE"
)

// Defaults, from DESIGN.md (and ours for the last three).
const (
	DefaultAddr             = ":8080"
	DefaultTIPURL           = "https://tip.kaspersky.com"
	DefaultTIPTimeout       = 30 * time.Second
	DefaultCacheTTL         = 24 * time.Hour
	DefaultCacheTTLGrey     = time.Hour
	DefaultCacheStale       = 168 * time.Hour
	DefaultListLimit        = 10
	DefaultTIPConcurrency   = 16
	DefaultShutdownTimeout  = 15 * time.Second
	DefaultRequestTimeout   = 60 * time.Second
	DefaultMemoryCacheBytes = 256 << 20

	// MaxLimit is the most records per list section TIP is asked for.
	MaxLimit = 1000
	// MaxTIPConcurrency bounds TIPGATE_TIP_CONCURRENCY: far more requests
	// in flight than TIP serves at once only queue at TIP instead of here,
	// where callers' deadlines are known.
	MaxTIPConcurrency = 1024
)

// Config is tipgate's validated configuration. Load builds it; every field
// holds a usable value (a default where the variable was unset).
type Config struct {
	// Addr is the listen address (TIPGATE_ADDR).
	Addr string
	// TLSCertFile and TLSKeyFile are set together or not at all; when set,
	// tipgate serves HTTPS with TLSCertificate, the pair Load read and
	// checked from them.
	TLSCertFile    string
	TLSKeyFile     string
	TLSCertificate *tls.Certificate `json:"-"`

	// TIPURL is TIP's base URL, absolute http(s), without a trailing slash.
	TIPURL string
	// Exactly one way to authenticate to TIP is configured: either TIPToken
	// alone, or TIPPFX (the PFX file's bytes, which TIPPFXPassword opens, as
	// Load has checked) with TIPUsername and TIPPassword.
	TIPUsername    string
	TIPPassword    Secret
	TIPPFXFile     string
	TIPPFX         []byte `json:"-"`
	TIPPFXPassword Secret
	TIPToken       Secret
	// TIPCAFile names a PEM bundle verifying TIP's server certificate and
	// TIPCA holds its bytes (at least one certificate); both empty means the
	// system roots.
	TIPCAFile string
	TIPCA     []byte `json:"-"`
	// TIPTimeout bounds one upstream request.
	TIPTimeout time.Duration

	// RedisURL is a redis://, rediss:// or unix:// URL; empty means the
	// in-memory store. It is a Secret because it may carry a password.
	RedisURL Secret
	// MemoryCacheBytes bounds the in-memory store (TIPGATE_CACHE_MEMORY_BYTES,
	// ours).
	MemoryCacheBytes int64
	// CacheTTL is the freshness of Red/Orange/Yellow/Green results,
	// CacheTTLGrey of Grey and not-found ones; CacheStale (may be zero) is how
	// long past freshness entries are kept to serve when TIP fails.
	CacheTTL     time.Duration
	CacheTTLGrey time.Duration
	CacheStale   time.Duration

	// DefaultLimit is the records per list section when a request names
	// none, 1 to MaxLimit.
	DefaultLimit int
	// TIPDailyBudget is the most TIP requests per UTC day; 0 means no budget.
	TIPDailyBudget int
	// TIPConcurrency is the most TIP requests in flight per process, 1 to
	// MaxTIPConcurrency.
	TIPConcurrency int
	// TIPProbe is whether one LicenseInfo request at start-up proves TIP's
	// URL, certificate and credentials.
	TIPProbe bool

	// LocalNets and LocalDomains are the addresses (IPv4 prefixes, masked)
	// and domain suffixes (lower case, without leading or trailing dots)
	// that are answered locally and never sent to TIP. Load never leaves
	// them nil: unset means localnet's defaults, and an empty slice means
	// the operator turned them off with "none".
	LocalNets    []netip.Prefix
	LocalDomains []string

	// KUMACacheOnly makes the KUMA (CyberTrace) lookup facade answer from
	// the cache alone, so that per-event SIEM enrichment never spends TIP
	// quota; what is not cached is answered "not detected".
	KUMACacheOnly bool

	// Auth is false only when TIPGATE_AUTH turns client keys off. When it is
	// true, APIKeys holds the bytes of APIKeysFile, which another package
	// parses; when false the file is neither required nor read.
	Auth        bool
	APIKeysFile string
	APIKeys     []byte `json:"-"`

	// LogLevel is the slog level.
	LogLevel slog.Level
	// ShutdownTimeout bounds the drain of in-flight requests on SIGTERM
	// (TIPGATE_SHUTDOWN_TIMEOUT, ours).
	ShutdownTimeout time.Duration
	// RequestTimeout bounds one client request, retries of TIP included
	// (TIPGATE_REQUEST_TIMEOUT, ours).
	RequestTimeout time.Duration
}

// Load reads the configuration through getenv and readFile (os.Getenv and
// os.ReadFile in production; fakes in tests) and validates it. An empty
// variable counts as unset. On any problem it returns a nil Config and a
// *Problems listing every one.
func Load(getenv func(string) string, readFile func(string) ([]byte, error)) (*Config, error) {
	l := &loader{getenv: getenv, readFile: readFile}
	c := &Config{}

	c.Addr = l.addr()
	c.TLSCertFile, c.TLSKeyFile, c.TLSCertificate = l.serverTLS()

	c.TIPURL = l.tipURL()
	l.tipCredentials(c)
	c.TIPCAFile, c.TIPCA = l.tipCA()
	c.TIPTimeout = l.duration(envTIPTimeout, DefaultTIPTimeout, false)

	c.RedisURL = l.redisURL()
	c.MemoryCacheBytes = l.size(envCacheMemory, DefaultMemoryCacheBytes)
	c.CacheTTL = l.duration(envCacheTTL, DefaultCacheTTL, false)
	c.CacheTTLGrey = l.duration(envCacheTTLGrey, DefaultCacheTTLGrey, false)
	c.CacheStale = l.duration(envCacheStale, DefaultCacheStale, true)

	c.DefaultLimit = l.integer(envDefaultLimit, DefaultListLimit, 1, MaxLimit)
	c.TIPDailyBudget = l.integer(envDailyBudget, 0, 0, math.MaxInt)
	c.TIPConcurrency = l.integer(envTIPConcurrency, DefaultTIPConcurrency, 1, MaxTIPConcurrency)
	c.TIPProbe = l.boolean(envTIPProbe, true)
	c.LocalNets = l.localNets()
	c.LocalDomains = l.localDomains()
	c.KUMACacheOnly = l.boolean(envKUMACacheOnly, false)

	c.Auth = l.auth()
	c.APIKeysFile, c.APIKeys = l.apiKeys(c.Auth)

	c.LogLevel = l.logLevel()
	c.ShutdownTimeout = l.duration(envShutdownTimeout, DefaultShutdownTimeout, false)
	c.RequestTimeout = l.duration(envRequestTimeout, DefaultRequestTimeout, false)

	if len(l.problems) > 0 {
		return nil, &Problems{List: l.problems}
	}
	return c, nil
}

// UnknownVariables returns, sorted, the TIPGATE_* names in environ (as
// os.Environ gives it) that tipgate does not read: most likely typos, which
// would otherwise silently leave a default in place. The caller decides
// whether to warn or refuse.
func UnknownVariables(environ []string) []string {
	known := []string{
		envAddr, envTLSCertFile, envTLSKeyFile, envTIPURL, envTIPPFXFile, envTIPCAFile,
		envTIPTimeout, envCacheTTL, envCacheTTLGrey, envCacheStale, envDefaultLimit,
		envDailyBudget, envAPIKeysFile, envAuth, envLogLevel, envShutdownTimeout,
		envRequestTimeout, envCacheMemory, envTIPConcurrency, envTIPProbe, envLocalNets,
		envLocalDomains, envKUMACacheOnly,
	}
	for _, s := range secretVariables() {
		known = append(known, s, s+fileSuffix)
	}
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TIPGATE_") && !slices.Contains(known, name) && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// secretVariables are the variables with a _FILE form. The username is not
// secret, but it is usually mounted next to the password, so it has one too.
func secretVariables() []string {
	return []string{envTIPUsername, envTIPPassword, envTIPPFXPassword, envTIPToken, envRedisURL}
}

// loader reads variables and collects problems rather than stopping at the
// first, so that Load can report every one.
type loader struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	problems []Problem
}

func (l *loader) problem(name string, cause error, format string, args ...any) {
	l.problems = append(l.problems, Problem{Var: name, Msg: fmt.Sprintf(format, args...), Err: cause})
}

// value is a non-secret variable, with surrounding spaces dropped: they are
// never meant and are hard to see.
func (l *loader) value(name string) string { return strings.TrimSpace(l.getenv(name)) }

// file reads the file that variable name points at. The read error already
// names the path and reads as a sentence: "open /x/y.pfx: no such file or
// directory".
func (l *loader) file(name, path string) ([]byte, bool) {
	data, err := l.readFile(path)
	if err != nil {
		l.problem(name, err, "%s", err.Error())
		return nil, false
	}
	return data, true
}

// secret reads a secret from its variable or from the file its _FILE form
// names. set reports whether either form was given, even if reading it
// failed, so callers can tell "missing" from "broken" and not report the
// same mistake twice. Only one line ending is trimmed from a file: any other
// trailing space may belong to the secret.
func (l *loader) secret(name string) (s Secret, set bool) {
	direct := l.getenv(name)
	fileVar := name + fileSuffix
	path := l.value(fileVar)
	switch {
	case direct != "" && path != "":
		l.problem(name, nil, "is set together with %s; set only one of them", fileVar)
		return "", true
	case path == "":
		return Secret(direct), direct != ""
	}
	data, ok := l.file(fileVar, path)
	if !ok {
		return "", true
	}
	v := string(data)
	if strings.HasSuffix(v, "\n") {
		v = strings.TrimSuffix(strings.TrimSuffix(v, "\n"), "\r")
	}
	if v == "" {
		l.problem(fileVar, nil, "the file %s is empty", path)
	}
	return Secret(v), true
}

func (l *loader) duration(name string, def time.Duration, allowZero bool) time.Duration {
	v := l.value(name)
	if v == "" {
		return def
	}
	d, err := parseDuration(v, allowZero)
	if err != nil {
		l.problem(name, err, "%s", err.Error())
		return def
	}
	return d
}

// integer reads a whole number from lo to hi; hi == math.MaxInt means no
// upper bound worth mentioning.
func (l *loader) integer(name string, def, lo, hi int) int {
	v := l.value(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		l.problem(name, err, "%q is not a whole number", v)
	case hi == math.MaxInt && n < lo:
		l.problem(name, nil, "%q is too small; it must be %d or more", v, lo)
	case n < lo || n > hi:
		l.problem(name, nil, "%q is out of range; it must be from %d to %d", v, lo, hi)
	default:
		return n
	}
	return def
}

func (l *loader) size(name string, def int64) int64 {
	v := l.value(name)
	if v == "" {
		return def
	}
	n, err := ParseSize(v)
	if err != nil {
		l.problem(name, err, "%s", err.Error())
		return def
	}
	if n <= 0 {
		l.problem(name, nil, "%q must be more than zero bytes", v)
		return def
	}
	return n
}

func (l *loader) addr() string {
	v := l.value(envAddr)
	if v == "" {
		return DefaultAddr
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		l.problem(envAddr, err, "%q is not a listen address; write host:port, such as :8080 or 127.0.0.1:8080", v)
	}
	return v
}

func (l *loader) serverTLS() (certFile, keyFile string, cert *tls.Certificate) {
	certFile, keyFile = l.value(envTLSCertFile), l.value(envTLSKeyFile)
	switch {
	case certFile == "" && keyFile == "":
		return "", "", nil
	case keyFile == "":
		l.problem(envTLSKeyFile, nil, "is not set, but %s is; set both to serve HTTPS, or neither to serve HTTP", envTLSCertFile)
		return certFile, keyFile, nil
	case certFile == "":
		l.problem(envTLSCertFile, nil, "is not set, but %s is; set both to serve HTTPS, or neither to serve HTTP", envTLSKeyFile)
		return certFile, keyFile, nil
	}
	certPEM, certOK := l.file(envTLSCertFile, certFile)
	keyPEM, keyOK := l.file(envTLSKeyFile, keyFile)
	if !certOK || !keyOK {
		return certFile, keyFile, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		l.problem(envTLSCertFile, err, "%s and the key in %s (%s) are not a usable certificate and key pair: %v", certFile, envTLSKeyFile, keyFile, err)
		return certFile, keyFile, nil
	}
	return certFile, keyFile, &pair
}

func (l *loader) tipURL() string {
	v := l.value(envTIPURL)
	if v == "" {
		return DefaultTIPURL
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		// The url.Error would repeat the whole text; its cause is enough.
		var cause error = err
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			cause = ue.Err
		}
		l.problem(envTIPURL, err, "is not a valid URL: %v", cause)
	case u.User != nil:
		l.problem(envTIPURL, nil, "must not hold credentials; set %s and %s instead", envTIPUsername, envTIPPassword)
	case (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		l.problem(envTIPURL, nil, "%q is not an absolute http:// or https:// URL, such as %s", v, DefaultTIPURL)
	case u.RawQuery != "" || u.Fragment != "":
		l.problem(envTIPURL, nil, "%q must not have a query or fragment; it is the base that /api/… paths are added to", v)
	default:
		return strings.TrimRight(v, "/")
	}
	return DefaultTIPURL
}

// tipCredentials settles how tipgate authenticates to TIP: a token alone, or
// a PFX certificate with Basic credentials. A mixture is refused rather than
// resolved by precedence, because whichever one silently lost would be the
// one the operator thought was in use.
func (l *loader) tipCredentials(c *Config) {
	token, tokenSet := l.secret(envTIPToken)
	username, usernameSet := l.secret(envTIPUsername)
	password, passwordSet := l.secret(envTIPPassword)
	pfxPassword, pfxPasswordSet := l.secret(envTIPPFXPassword)
	pfxFile := l.value(envTIPPFXFile)

	c.TIPToken = token
	c.TIPUsername = username.Reveal()
	c.TIPPassword = password
	c.TIPPFXPassword = pfxPassword
	c.TIPPFXFile = pfxFile

	pfxMode := []struct {
		name string
		set  bool
	}{
		{envTIPPFXFile, pfxFile != ""},
		{envTIPPFXPassword, pfxPasswordSet},
		{envTIPUsername, usernameSet},
		{envTIPPassword, passwordSet},
	}
	var given, missing []string
	for _, v := range pfxMode {
		if v.set {
			given = append(given, v.name)
		} else {
			missing = append(missing, v.name)
		}
	}
	switch {
	case tokenSet && len(given) > 0:
		l.problem(envTIPToken, nil, "is set together with %s; TIP takes either a token alone or a PFX certificate with a username and password, so unset one or the other",
			strings.Join(given, ", "))
	case !tokenSet && len(given) == 0:
		l.problem(envTIPPFXFile, nil, "TIP credentials are not set; set %s, %s, %s and %s, or %s alone",
			envTIPPFXFile, envTIPPFXPassword, envTIPUsername, envTIPPassword, envTIPToken)
	case !tokenSet:
		for _, name := range missing {
			l.problem(name, nil, "is not set, but a PFX client certificate needs %s, %s, %s and %s together (or use %s alone)",
				envTIPPFXFile, envTIPPFXPassword, envTIPUsername, envTIPPassword, envTIPToken)
		}
	}

	if pfxFile == "" {
		return
	}
	pfx, ok := l.file(envTIPPFXFile, pfxFile)
	if !ok {
		return
	}
	c.TIPPFX = pfx
	if pfxPassword == "" {
		return // missing or unreadable, and reported as such
	}
	if _, _, _, err := pkcs12.DecodeChain(pfx, pfxPassword.Reveal()); err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			l.problem(envTIPPFXPassword, err, "the password does not open the PFX file %s (%s)", envTIPPFXFile, pfxFile)
			return
		}
		// ASN.1 complaints describe the bytes, not the mistake: the file is
		// most likely PEM, or not a certificate at all.
		cause := err.Error()
		if strings.Contains(cause, "asn1:") {
			cause = "it is not PKCS#12 data"
		}
		l.problem(envTIPPFXFile, err, "%s is not a PKCS#12 (PFX) file holding a client certificate and its key (%s)", pfxFile, cause)
	}
}

func (l *loader) tipCA() (string, []byte) {
	path := l.value(envTIPCAFile)
	if path == "" {
		return "", nil
	}
	data, ok := l.file(envTIPCAFile, path)
	if !ok {
		return path, nil
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		l.problem(envTIPCAFile, nil, "%s holds no PEM certificate; it must be a PEM bundle of the CAs that sign TIP's server certificate", path)
	}
	return path, data
}

// redisURL checks the Redis URL without ever repeating it, or any part that
// could be its password, in a problem.
func (l *loader) redisURL() Secret {
	s, set := l.secret(envRedisURL)
	if !set || s == "" {
		return s
	}
	u, err := url.Parse(s.Reveal())
	if err != nil {
		// Parse errors quote pieces of the text, which may be the password.
		l.problem(envRedisURL, nil, "is not a valid URL (it is not shown here because it may hold a password)")
		return s
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix" {
		l.problem(envRedisURL, nil, "must start with redis://, rediss:// or unix://")
		return s
	}
	if _, err := redis.ParseURL(s.Reveal()); err != nil {
		// go-redis quotes the path and query, not the user information, but
		// a password that also appears there must not be shown either.
		msg := err.Error()
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, redacted)
		}
		l.problem(envRedisURL, nil, "is not a Redis URL that tipgate can use: %s", msg)
	}
	return s
}

// boolean reads on or off (true/false, 1/0), def when unset or wrong.
func (l *loader) boolean(name string, def bool) bool {
	v := l.value(name)
	switch strings.ToLower(v) {
	case "":
		return def
	case "on", "true", "1":
		return true
	case "off", "false", "0":
		return false
	}
	l.problem(name, nil, "%q is not on or off (true/false and 1/0 also work)", v)
	return def
}

// auth is on unless turned off: on is also the safe reading while a wrong
// value is being fixed.
func (l *loader) auth() bool { return l.boolean(envAuth, true) }

// localNets reads the address list; unset is localnet's defaults, "none"
// an empty list. Each wrong entry is its own problem, naming it.
func (l *loader) localNets() []netip.Prefix {
	v := l.value(envLocalNets)
	switch {
	case v == "":
		return localnet.DefaultNets()
	case strings.EqualFold(v, none):
		return []netip.Prefix{}
	}
	nets, errs := parseNets(v)
	for _, err := range errs {
		l.problem(envLocalNets, err, "%s", err.Error())
	}
	if len(errs) == 0 && len(nets) == 0 {
		l.problem(envLocalNets, nil, "%q lists no address; write none to answer no address locally", v)
	}
	return nets
}

// localDomains reads the suffix list as localNets reads the address list.
func (l *loader) localDomains() []string {
	v := l.value(envLocalDomains)
	switch {
	case v == "":
		return localnet.DefaultDomains()
	case strings.EqualFold(v, none):
		return []string{}
	}
	domains, errs := parseDomains(v)
	for _, err := range errs {
		l.problem(envLocalDomains, err, "%s", err.Error())
	}
	if len(errs) == 0 && len(domains) == 0 {
		l.problem(envLocalDomains, nil, "%q lists no domain; write none to answer no domain locally", v)
	}
	return domains
}

func (l *loader) apiKeys(auth bool) (string, []byte) {
	path := l.value(envAPIKeysFile)
	if !auth {
		return path, nil
	}
	if path == "" {
		l.problem(envAPIKeysFile, nil, "is not set; point it at the API keys file, or set %s=off to serve without client keys", envAuth)
		return "", nil
	}
	data, ok := l.file(envAPIKeysFile, path)
	if ok && len(strings.TrimSpace(string(data))) == 0 {
		l.problem(envAPIKeysFile, nil, "the file %s is empty", path)
	}
	return path, data
}

func (l *loader) logLevel() slog.Level {
	v := l.value(envLogLevel)
	if v == "" {
		return slog.LevelInfo
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(v)); err != nil {
		l.problem(envLogLevel, err, "%q is not a log level; use debug, info, warn or error", v)
		return slog.LevelInfo
	}
	return lvl
}
