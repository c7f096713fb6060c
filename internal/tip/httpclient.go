package tip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
)

const (
	defaultTimeout   = 30 * time.Second
	defaultUserAgent = "tipgate"
	// maxAnswerBytes bounds a 200 body. TIP's count allows up to 1000 records
	// per section, which for a popular domain is a few MiB; anything far
	// beyond that is not an answer we can hold in memory for every caller.
	maxAnswerBytes = 64 << 20
	// maxErrorBytes bounds how much of an error page is read for its reason.
	maxErrorBytes = 64 << 10
	// maxDrainBytes is how much of an unread body is skipped so the
	// connection can be reused; beyond it, closing is cheaper.
	maxDrainBytes = 256 << 10
	// setupTimeout caps dialing and the TLS handshake so a dead address
	// fails fast even when the overall timeout is long.
	setupTimeout = 10 * time.Second
)

// Client talks to TIP over one shared transport. It is safe for concurrent
// use. Lookup makes exactly one attempt; retries belong to a wrapper.
type Client struct {
	base      *url.URL // scheme, host and path prefix without a trailing slash
	http      *http.Client
	auth      string // the Authorization header value: a secret
	tokenMode bool
	userAgent string
	timeout   time.Duration
	leaf      *x509.Certificate
	// secrets are blanked out of any text TIP sends back before it reaches
	// an error, in case an error page echoes the request.
	secrets []string
	maxBody int64
	now     func() time.Time
}

// New validates cfg, loads the client certificate and builds the transport.
// Every configuration problem is reported at once; no message contains a
// secret.
func New(cfg Config) (*Client, error) {
	var problems []error
	base, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		// The parser quotes fragments of the URL, which may hold a secret
		// pasted into the wrong variable.
		problems = append(problems, errors.New(scrub(err.Error(), nonEmpty(cfg.Password, cfg.PFXPassword, cfg.Token))))
	}
	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = defaultTimeout
	case timeout < 0:
		problems = append(problems, fmt.Errorf("the TIP timeout (TIPGATE_TIP_TIMEOUT) must be positive, not %s", cfg.Timeout))
	}
	userAgent := cfg.UserAgent
	if userAgent == "" {
		userAgent = defaultUserAgent
	} else if !printableHeader(userAgent, true) {
		problems = append(problems, errors.New("the TIP user agent contains control characters"))
	}

	tlsConf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Some TLS front ends ask for the client certificate only for
		// certain paths, by renegotiating once the request is read; refusing
		// would fail every lookup with a handshake error although the
		// certificate is in hand. Once per connection is all that needs, and
		// bounds what a hostile server can make the client do. (TLS 1.2
		// only: TLS 1.3 has no renegotiation.)
		Renegotiation: tls.RenegotiateOnceAsClient,
		// A connection made again after an idle spell (the pool keeps one
		// for 90 s) resumes the session instead of a full handshake with
		// the client certificate: measured on loopback with the bench's
		// RSA-2048 certificates, 0.8 ms instead of 4-5 ms of handshake,
		// which a cold burst otherwise waits on. Each client (so each
		// set of credentials a reload brings) has its own cache.
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
	}
	if cfg.CAPEM != nil {
		pool, err := CertPool(cfg.CAPEM)
		if err != nil {
			problems = append(problems, fmt.Errorf("the CA bundle for TIP (TIPGATE_TIP_CA_FILE) %w", err))
		}
		tlsConf.RootCAs = pool
	}

	c := &Client{
		base:      base,
		userAgent: userAgent,
		timeout:   timeout,
		maxBody:   maxAnswerBytes,
		now:       time.Now,
	}
	certMode, tokenMode := cfg.Certificate != nil || len(cfg.PFX) > 0, cfg.Token != ""
	switch {
	case certMode && tokenMode:
		problems = append(problems, errors.New("both a client certificate (TIPGATE_TIP_PFX_FILE) and a token (TIPGATE_TIP_TOKEN) are set; set one of them"))
	case certMode:
		problems = append(problems, c.setupCertificate(cfg, tlsConf)...)
	case tokenMode:
		problems = append(problems, c.setupToken(cfg)...)
	default:
		problems = append(problems, errors.New("no TIP credentials: set TIPGATE_TIP_PFX_FILE with TIPGATE_TIP_PFX_PASSWORD, TIPGATE_TIP_USERNAME and TIPGATE_TIP_PASSWORD, or set TIPGATE_TIP_TOKEN"))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}

	dialer := &net.Dialer{Timeout: min(setupTimeout, timeout), KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		// SOC networks often reach the internet only through a proxy.
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    min(setupTimeout, timeout),
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           128,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	c.http = &http.Client{
		Transport: transport,
		Timeout:   timeout,
		// TIP's API does not redirect; a redirect means a login page or a
		// misconfigured URL, and following it would hide that.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// setupCertificate presents the client certificate and sends Basic
// credentials. That a username and password come with it is
// internal/config's rule; here they only have to fit in a header.
func (c *Client) setupCertificate(cfg Config, tlsConf *tls.Config) []error {
	var problems []error
	if strings.Contains(cfg.Username, ":") || !printableHeader(cfg.Username, true) {
		problems = append(problems, errors.New("TIPGATE_TIP_USERNAME must not contain a colon or control characters"))
	}
	cert := cfg.Certificate
	if cert == nil {
		loaded, err := LoadPFX(cfg.PFX, cfg.PFXPassword)
		switch {
		case errors.Is(err, ErrPFXPassword):
			problems = append(problems, fmt.Errorf("TIPGATE_TIP_PFX_PASSWORD: %w", err))
		case err != nil:
			problems = append(problems, fmt.Errorf("TIPGATE_TIP_PFX_FILE: %w", err))
		default:
			cert = &loaded
		}
	}
	if cert != nil {
		c.leaf = cert.Leaf
		// Always present the certificate, even when TIP's list of acceptable
		// CAs does not name its issuer: TIP decides, and a missing
		// certificate would be reported far less clearly than a rejected one.
		tlsConf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return cert, nil
		}
	}
	userPass := cfg.Username + ":" + cfg.Password
	c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
	c.secrets = nonEmpty(cfg.Password, cfg.PFXPassword, userPass, c.auth[len("Basic "):])
	return problems
}

func (c *Client) setupToken(cfg Config) []error {
	var problems []error
	if !printableHeader(cfg.Token, false) {
		problems = append(problems, errors.New("TIPGATE_TIP_TOKEN contains spaces or control characters; check that it was copied whole"))
	}
	c.tokenMode = true
	c.auth = "Bearer " + cfg.Token
	c.secrets = nonEmpty(cfg.Token, cfg.Password, cfg.PFXPassword)
	return problems
}

// CertPool reads a PEM bundle of the CAs that verify TIP's server
// certificate. Its error reads after the bundle's name ("/etc/ca.pem holds
// no PEM certificate; …").
func CertPool(pemCerts []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCerts) {
		return nil, errors.New("holds no PEM certificate; it must be a PEM bundle of the CAs that sign TIP's server certificate")
	}
	return pool, nil
}

// ParseBaseURL accepts an absolute http(s) URL, keeping any path prefix (a
// reverse proxy may mount TIP under one) without its trailing slashes. It is
// the one rule for TIPGATE_TIP_URL: internal/config reports what it says
// against the variable, and New applies it again to what it is given. It
// never echoes the input, which could carry credentials.
func ParseBaseURL(raw string) (*url.URL, error) {
	const name = "the TIP URL (TIPGATE_TIP_URL)"
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New(name + " is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s is not a valid URL: %w", name, err)
	}
	switch {
	case u.User != nil:
		return nil, errors.New(name + " must not contain credentials; set TIPGATE_TIP_USERNAME and TIPGATE_TIP_PASSWORD or TIPGATE_TIP_TOKEN instead")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New(name + " must be an absolute URL starting with https:// (or http:// for a local simulator)")
	case u.Opaque != "" || u.Host == "":
		return nil, errors.New(name + " has no host name; use a URL like https://tip.kaspersky.com")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New(name + " must not have a query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// Certificate returns the client certificate's leaf, nil in token mode.
func (c *Client) Certificate() *x509.Certificate { return c.leaf }

// BaseURL returns TIP's base URL as the client uses it. It holds no
// credentials (New refuses a URL with any).
func (c *Client) BaseURL() string { return c.base.String() }

// Lookup asks TIP about one indicator, for the given sections (all of them
// when empty) and at most count records per list section (TIP's default when
// count <= 0). It makes one attempt. A 404 is a Result with Found false;
// every other failure is an *Error, except the caller's own cancellation,
// which wraps context.Canceled.
func (c *Client) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*Result, error) {
	budget := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		budget = max(min(budget, time.Until(dl)), 0)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.newRequest(ctx, ind, sections, count)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.failure(ctx, err, budget)
	}
	defer drainClose(resp.Body)

	switch {
	case resp.StatusCode == http.StatusOK:
		return c.answer(ctx, resp, budget)
	case resp.StatusCode == http.StatusNotFound:
		return &Result{Found: false, ReceivedAt: c.now().UTC()}, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	if err != nil && ctx.Err() != nil {
		return nil, c.failure(ctx, err, budget)
	}
	// A body cut short still carries whatever reason it got to.
	return nil, c.statusError(resp, body)
}

// newRequest builds GET {base}/api/{type}/{value}?sections=…&count=…. The
// value is escaped as one path segment whatever its type, so that no
// indicator can reach another path or add query parameters.
func (c *Client) newRequest(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*http.Request, error) {
	switch ind.Type {
	case indicator.Hash, indicator.IP, indicator.Domain, indicator.URL:
	default:
		return nil, &Error{Kind: KindBadRequest, Detail: fmt.Sprintf("%q is not an indicator type TIP knows; use hash, ip, domain or url", ind.Type)}
	}
	// "." and ".." would be read as path steps by any server on the way,
	// whatever their escaping, and an empty value names the type's root.
	if ind.Value == "" || ind.Value == "." || ind.Value == ".." {
		return nil, &Error{Kind: KindBadRequest, Detail: "the indicator value is empty or a bare dot, which TIP cannot look up"}
	}
	segment := escapeSegment(ind.Value)
	u := *c.base
	u.Path = c.base.Path + "/api/" + string(ind.Type) + "/" + ind.Value
	u.RawPath = c.base.EscapedPath() + "/api/" + string(ind.Type) + "/" + segment

	var q []string
	if len(sections) > 0 {
		names := make([]string, len(sections))
		for i, s := range sections {
			names[i] = url.QueryEscape(s)
		}
		// Raw commas, as Kaspersky's own clients send them (tip-api.md §1.2).
		q = append(q, "sections="+strings.Join(names, ","))
	}
	if count > 0 {
		q = append(q, "count="+strconv.Itoa(count))
	}
	u.RawQuery = strings.Join(q, "&")

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil || req.URL.EscapedPath() != u.RawPath {
		// Unreachable with the escaping above; checked because the whole
		// point is that no value can change the path.
		return nil, &Error{Kind: KindBadRequest, Detail: "the indicator value could not be encoded safely for TIP"}
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

// escapeSegment percent-encodes everything but unreserved characters, so
// '/', '?', '#', '&', '=', '+', '%' and spaces can never act as syntax.
func escapeSegment(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// answer reads a 200.
func (c *Client) answer(ctx context.Context, resp *http.Response, budget time.Duration) (*Result, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		if ctx.Err() != nil || isTimeout(err) {
			return nil, c.failure(ctx, err, budget)
		}
		return nil, &Error{Kind: KindUnavailable, Status: resp.StatusCode, Detail: "TIP's answer was cut off: " + innerError(err).Error(), Err: err}
	}
	if int64(len(body)) > c.maxBody {
		return nil, &Error{Kind: KindUnavailable, Status: resp.StatusCode, Detail: fmt.Sprintf("TIP sent an unreadable answer: it is larger than %d MiB", c.maxBody>>20)}
	}
	sections, err := decodeSections(body)
	if err != nil {
		// net/http can still hand over an answer that raced with the
		// deadline; past it, the deadline is the truer explanation.
		if ctx.Err() != nil {
			return nil, c.failure(ctx, ctx.Err(), budget)
		}
		return nil, &Error{Kind: KindUnavailable, Status: resp.StatusCode, Detail: "TIP sent an unreadable answer: " + err.Error(), Err: err}
	}
	res := &Result{Found: true, Sections: sections, ReceivedAt: c.now().UTC()}
	if raw, ok := sections[SectionLicense]; ok {
		res.License = decodeLicense(raw)
	}
	return res, nil
}

// statusError maps a non-200, non-404 answer to an *Error (DESIGN.md
// "Upstream errors as callers see them").
func (c *Client) statusError(resp *http.Response, body []byte) *Error {
	code := resp.StatusCode
	status := strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		status += " " + text
	}
	reason := c.scrub(errorReason(resp.Header.Get("Content-Type"), []byte(c.scrub(string(body)))))
	said := ""
	if reason != "" {
		said = " (TIP said: " + reason + ")"
	}
	e := &Error{Status: code}
	switch {
	case code == http.StatusBadRequest:
		e.Kind = KindBadRequest
		if reason == "" {
			reason = "it gave no reason"
		}
		e.Detail = "TIP rejected the request as invalid: " + reason
	case code == http.StatusRequestURITooLong:
		e.Kind = KindBadRequest
		if reason == "" {
			reason = "414 URI Too Long"
		}
		e.Detail = "TIP rejected the request as too long (TIP accepts URLs of up to 2000 characters): " + reason
	case code == http.StatusUnauthorized:
		e.Kind = KindUnauthorized
		creds := "the username, password and client certificate"
		if c.tokenMode {
			creds = "the token and its expiry date"
		}
		e.Detail = "TIP rejected the credentials: check " + creds + ", and that the Terms and Conditions are accepted at https://tip.kaspersky.com" + said
	case code == http.StatusForbidden:
		e.Kind = KindForbidden
		e.Detail = "TIP refused the request: this account has no access to the Threat Lookup API, or its daily request quota is spent" + said
	case code == http.StatusTooManyRequests:
		e.Kind = KindRateLimited
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		if e.RetryAfter > 0 {
			e.Detail = "TIP is limiting the request rate; it asked to wait " + e.RetryAfter.String()
		} else {
			e.Detail = "TIP is limiting the request rate; try again later"
		}
	case code >= 500:
		e.Kind = KindUnavailable
		e.Detail = "TIP is unavailable: it answered " + status
	default:
		e.Kind = KindUnavailable
		e.Detail = "TIP answered with an unexpected " + status
	}
	return e
}

// failure classifies an error from sending the request or reading the
// answer: the caller going away, a timeout, a TLS failure or an unreachable
// server.
func (c *Client) failure(ctx context.Context, err error, budget time.Duration) error {
	if cerr := ctx.Err(); errors.Is(cerr, context.Canceled) {
		return fmt.Errorf("the TIP lookup was abandoned because its caller went away: %w", cerr)
	}
	if ctx.Err() != nil || isTimeout(err) {
		return &Error{Kind: KindTimeout, Detail: "TIP did not answer within " + budget.Round(time.Millisecond).String(), Err: err}
	}
	if problem, detail := c.tlsFailure(err); problem != tlsNone {
		return &Error{Kind: KindUnavailable, Detail: "the TLS handshake with TIP failed: " + detail, Err: err}
	}
	return &Error{Kind: KindUnavailable, Detail: "TIP could not be reached: " + innerError(err).Error(), Err: err}
}

// tlsFailure is the one reading of a transport error's TLS layer: what
// kind of failure it is (tlsNone when it is not one), and a sentence saying
// what to fix. Both the lookup path and the start-up probe use it.
func (c *Client) tlsFailure(err error) (tlsProblem, string) {
	var (
		unknownAuth x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalid     x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		header      tls.RecordHeaderError
		op          *net.OpError
	)
	switch {
	case err == nil:
		return tlsNone, ""
	case errors.As(err, &unknownAuth):
		return tlsServerCert, "TIP's server certificate is not signed by an authority this machine trusts (" + unknownAuth.Error() + "); if a private CA or an inspecting proxy signs it, give that CA's PEM bundle in TIPGATE_TIP_CA_FILE"
	case errors.As(err, &hostname):
		return tlsServerCert, "TIP's server certificate does not name the host in TIPGATE_TIP_URL (" + hostname.Error() + ")"
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return tlsServerCert, "TIP's server certificate has expired or is not yet valid; check this machine's clock (" + invalid.Error() + ")"
		}
		return tlsServerCert, "TIP's server certificate is not acceptable (" + invalid.Error() + ")"
	case errors.As(err, &verify):
		return tlsServerCert, "TIP's server certificate could not be verified (" + verify.Err.Error() + ")"
	case errors.As(err, &header) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// net/http replaces the RecordHeaderError when the reply is HTTP.
		return tlsNotTLS, "the server at TIPGATE_TIP_URL does not speak TLS; check the scheme and port"
	case errors.As(err, &op) && op.Op == "remote error":
		alert := op.Err.Error()
		if !strings.Contains(alert, "certificate") && alert != "tls: access denied" {
			return tlsOtherFailure, "TIP ended it with " + strconv.Quote(alert)
		}
		if c.tokenMode {
			return tlsClientCert, "TIP asked for a client certificate (" + alert + "); this account may need the PFX client certificate (TIPGATE_TIP_PFX_FILE) instead of a token"
		}
		return tlsClientCert, "TIP did not accept the client certificate (" + alert + "); check that TIPGATE_TIP_PFX_FILE holds the certificate Kaspersky issued for this account and that it has not expired or been revoked"
	}
	return tlsNone, ""
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// innerError drops *url.Error's "Get <url>:" prefix, which repeats the
// indicator and says nothing about the cause.
func innerError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) scrub(s string) string { return scrub(s, c.secrets) }

func scrub(s string, secrets []string) string {
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrainBytes))
	_ = body.Close()
}

// printableHeader reports whether s can go into a header value unchanged.
func printableHeader(s string, spaces bool) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x20 || b == 0x7f || (!spaces && b == ' ') {
			return false
		}
	}
	return true
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
