// Package config owns tipgate's start-up configuration: the table of every
// TIPGATE_* variable (variables.go: name, default, parser, summary, secret
// or not), reading them (and the _FILE form of each secret), reading the
// files they name (PFX, CA bundle, API keys) and validating all of it before
// anything starts. Where a component owns what a value means (the TIP base
// URL, PFX and CA bundle: internal/tip; the Redis URL: internal/cache),
// Load applies that component's rule rather than a copy of it, and decodes
// the PFX once for the TIP client. Load reports every problem at once, each
// naming the variable to fix, and never shows a secret's value, in its
// errors or in the summary it logs. The API keys file's content is
// internal/apikey's to judge: Load reads it, the app parses it.
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/localnet"
	"github.com/tipgate/tipgate/internal/tip"
)

// Bounds of the numeric variables, where tipgate has an opinion.
const (
	// MaxLimit is the most records per list section TIP is asked for.
	MaxLimit = 1000
	// MaxTIPConcurrency bounds TIPGATE_TIP_CONCURRENCY: far more requests
	// in flight than TIP serves at once only queue at TIP instead of here,
	// where callers' deadlines are known.
	MaxTIPConcurrency = 1024
	// MinMemoryCacheBytes bounds TIPGATE_CACHE_MEMORY_BYTES from below: a
	// smaller store holds a handful of answers and silently turns the cache
	// off.
	MinMemoryCacheBytes = 1 << 20
	// MaxHotCacheTTL bounds TIPGATE_CACHE_HOT_TTL: it is also how long a
	// replica may serve an entry another replica refreshed or purged when
	// the message saying so is lost.
	MaxHotCacheTTL = cache.MaxHotTTL
	// MinCacheTTL bounds the freshness lifetimes from below: an answer fresh
	// for less than a second is a TIP request per lookup, spending quota.
	MinCacheTTL = time.Second
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
	// TIPCertificate is the client certificate, key and chain Load decoded
	// from TIPPFX: the PFX is decoded once, here, and the TIP client is
	// given the result. Nil in token mode.
	TIPCertificate *tls.Certificate `json:"-"`
	// TIPCAFile names a PEM bundle verifying TIP's server certificate and
	// TIPCA holds its bytes (at least one certificate); both empty means the
	// system roots.
	TIPCAFile string
	TIPCA     []byte `json:"-"`
	// TIPTimeout bounds one upstream request.
	TIPTimeout time.Duration

	// RedisURL is a redis://, rediss:// or unix:// URL (several nodes or
	// sentinels as addr= in cluster or sentinel mode); empty means the
	// in-memory store. It is a Secret because it may carry a password.
	RedisURL Secret
	// RedisMode is how RedisURL is read: one Redis, a cluster or a master
	// found through Sentinel (TIPGATE_REDIS_MODE).
	RedisMode cache.RedisMode
	// MemoryCacheBytes bounds the in-memory store (TIPGATE_CACHE_MEMORY_BYTES,
	// ours).
	MemoryCacheBytes int64
	// HotCacheBytes bounds the in-process tier in front of Redis; 0 turns
	// it off (Redis is asked on every lookup, and the process keeps only
	// what Redis failed to take). HotCacheTTL is how long an entry is
	// served from it without asking Redis: from a nanosecond to
	// MaxHotCacheTTL, and unchecked when the tier is off. Both mean
	// nothing with the in-memory store.
	HotCacheBytes int64
	HotCacheTTL   time.Duration
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

	// TrustedProxies are the addresses (IPv4 or IPv6 prefixes, masked) of
	// the reverse proxies whose X-Forwarded-For is believed for the client
	// address the access and audit logs show; nil trusts none.
	TrustedProxies []netip.Prefix

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
// *Problems listing every one, in the order of the variables' table.
func Load(getenv func(string) string, readFile func(string) ([]byte, error)) (*Config, error) {
	l := &loader{getenv: getenv, readFile: readFile}
	c := &Config{}
	for _, v := range variables() {
		if v.load != nil {
			v.load(l, c)
		}
	}
	if len(l.problems) > 0 {
		return nil, &Problems{List: l.problems}
	}
	return c, nil
}

// Names returns every variable tipgate reads, the _FILE forms included, in
// the table's order.
func Names() []string {
	var names []string
	for _, v := range variables() {
		names = append(names, v.name)
		if v.file {
			names = append(names, v.name+fileSuffix)
		}
	}
	return names
}

// UnknownVariables returns, sorted, the TIPGATE_* names in environ (as
// os.Environ gives it) that tipgate does not read: most likely typos, which
// would otherwise silently leave a default in place. The caller decides
// whether to warn or refuse.
func UnknownVariables(environ []string) []string {
	known := Names()
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

// text is a variable's value, or def when it is unset.
func (l *loader) text(name, def string) string {
	if v := l.value(name); v != "" {
		return v
	}
	return def
}

// duration reads a duration of at least least; least 0 allows zero, and
// any positive least refuses zero and negative values as such.
func (l *loader) duration(name, def string, least time.Duration) time.Duration {
	v := l.text(name, def)
	d, err := parseDuration(v, least == 0)
	switch {
	case err != nil:
		l.problem(name, err, "%s", err.Error())
	case d < least:
		l.problem(name, nil, "%q is less than %v, too short to be useful; use %v or more", v, least, least)
	}
	return d
}

// integer reads a whole number from lo to hi; hi == math.MaxInt means no
// upper bound worth mentioning.
func (l *loader) integer(name, def string, lo, hi int) int {
	v := l.text(name, def)
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		l.problem(name, err, "%q is not a whole number", v)
	case hi == math.MaxInt && n < lo:
		l.problem(name, nil, "%q is too small; it must be %d or more", v, lo)
	case n < lo || n > hi:
		l.problem(name, nil, "%q is out of range; it must be from %d to %d", v, lo, hi)
	}
	return n
}

// size reads a byte count of at least least.
func (l *loader) size(name, def string, least int64) int64 {
	v := l.text(name, def)
	n, err := ParseSize(v)
	switch {
	case err != nil:
		l.problem(name, err, "%s", err.Error())
	case n <= 0:
		l.problem(name, nil, "%q must be more than zero bytes", v)
	case n < least:
		l.problem(name, nil, "%q is less than %s, too small to cache anything; use %s or more", v, formatSize(least), formatSize(least))
	}
	return n
}

// hotCache reads the hot tier's pair: a size that may be 0 (off) and a
// TTL, bounded when the tier is on and only read when it is off (a value
// that is not a duration is a mistake either way).
func (l *loader) hotCache(bytesDef, ttlDef string) (int64, time.Duration) {
	const bytesVar, ttlVar = "TIPGATE_CACHE_HOT_BYTES", "TIPGATE_CACHE_HOT_TTL"
	v := l.text(bytesVar, bytesDef)
	n, err := ParseSize(v)
	switch {
	case err != nil:
		l.problem(bytesVar, err, "%s", err.Error())
	case n == 0:
		if t := l.value(ttlVar); t != "" {
			if _, err := parseDuration(t, true); err != nil {
				l.problem(ttlVar, err, "%s", err.Error())
			}
		}
		return 0, 0
	case n < MinMemoryCacheBytes:
		l.problem(bytesVar, nil, "%q is less than %s, too small to cache anything; use %s or more, or 0 to turn the hot tier off",
			v, formatSize(MinMemoryCacheBytes), formatSize(MinMemoryCacheBytes))
	}
	ttl := l.duration(ttlVar, ttlDef, time.Nanosecond)
	if ttl > MaxHotCacheTTL {
		l.problem(ttlVar, nil, "%q is more than %v: another replica's refresh or purge whose message was lost would go unseen that long; use %v or less, or TIPGATE_CACHE_HOT_BYTES=0 to turn the hot tier off",
			l.text(ttlVar, ttlDef), MaxHotCacheTTL, MaxHotCacheTTL)
	}
	return n, ttl
}

func (l *loader) addr(def string) string {
	v := l.text(envAddr, def)
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

// tipURL applies the TIP client's own rule for its base URL
// (tip.ParseBaseURL), so that no URL passes here that the client refuses.
func (l *loader) tipURL(def string) string {
	v := l.text(envTIPURL, def)
	u, err := tip.ParseBaseURL(v)
	if err != nil {
		l.problem(envTIPURL, err, "%s", strings.TrimPrefix(err.Error(), "the TIP URL (TIPGATE_TIP_URL) "))
		return v
	}
	return u.String()
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
	// The TIP client's own reading of the file, done once: the client is
	// given the certificate, not the file.
	cert, err := tip.LoadPFX(pfx, pfxPassword.Reveal())
	switch {
	case errors.Is(err, tip.ErrPFXPassword):
		l.problem(envTIPPFXPassword, err, "the password does not open the PFX file %s (%s)", envTIPPFXFile, pfxFile)
	case err != nil:
		l.problem(envTIPPFXFile, err, "%s cannot be used: %s", pfxFile, strings.TrimPrefix(err.Error(), "read the PFX client certificate: "))
	default:
		c.TIPCertificate = &cert
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
	if _, err := tip.CertPool(data); err != nil {
		l.problem(envTIPCAFile, err, "%s %s", path, err.Error())
	}
	return path, data
}

// redis reads the Redis URL and the mode it is read in, and checks the URL
// against the mode without ever repeating it, or any part that could be
// its password, in a problem.
func (l *loader) redis() (Secret, cache.RedisMode) {
	v := l.text(envRedisMode, string(cache.RedisSingle))
	mode := cache.RedisMode(strings.ToLower(v))
	if !slices.Contains(cache.RedisModes(), mode) {
		l.problem(envRedisMode, nil, "%q is not a Redis mode: use single, cluster or sentinel", v)
		mode = cache.RedisSingle
	}
	s, set := l.secret(envRedisURL)
	if !set || s == "" {
		return s, mode
	}
	// The store's own rule (cache.ParseRedisURL), whose errors never show
	// the URL.
	err := cache.ParseRedisURL(s.Reveal(), mode)
	var modeErr *cache.RedisModeError
	switch {
	case errors.As(err, &modeErr):
		l.problem(envRedisURL, err, "does not fit %s=%s: %s", envRedisMode, modeErr.Mode, modeErr.Why)
	case err != nil:
		l.problem(envRedisURL, nil, "%s", err.Error())
	}
	return s, mode
}

// boolean reads on or off (true/false, 1/0); def when unset, and also when
// wrong, so that the rest of Load sees a plausible value.
func (l *loader) boolean(name, def string) bool {
	v := l.text(name, def)
	switch strings.ToLower(v) {
	case "on", "true", "1":
		return true
	case "off", "false", "0":
		return false
	}
	l.problem(name, nil, "%q is not on or off (true/false and 1/0 also work)", v)
	return def == "true" || def == "on"
}

// localNets reads the address list; unset is localnet's defaults, "none"
// an empty list. Each wrong entry is its own problem, naming it.
func (l *loader) localNets(envLocalNets string) []netip.Prefix {
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
func (l *loader) localDomains(envLocalDomains string) []string {
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

// trustedProxies reads the proxies' addresses, IPv4 or IPv6; unset (or
// "none") trusts none.
func (l *loader) trustedProxies(name string) []netip.Prefix {
	v := l.value(name)
	if v == "" || strings.EqualFold(v, none) {
		return nil
	}
	nets, errs := parseAddrs(v, false)
	for _, err := range errs {
		l.problem(name, err, "%s", err.Error())
	}
	if len(errs) == 0 && len(nets) == 0 {
		l.problem(name, nil, "%q lists no address; write none, or leave it unset, to trust no proxy", v)
	}
	return nets
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
	// What the file holds, an empty one included, is internal/apikey's to
	// judge, when the app is built (and so by check-config too).
	data, _ := l.file(envAPIKeysFile, path)
	return path, data
}

func (l *loader) logLevel(def string) slog.Level {
	v := l.text(envLogLevel, def)
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(v)); err != nil {
		l.problem(envLogLevel, err, "%q is not a log level; use debug, info, warn or error", v)
		return slog.LevelInfo
	}
	return lvl
}
