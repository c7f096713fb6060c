package tip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
)

// ProbeHash is the object the probe asks TIP about: the MD5 of the EICAR
// anti-virus test file. Every anti-malware vendor knows it, so TIP always
// has a record for it; a 404 for it means the server that answered is not
// TIP's lookup API.
const ProbeHash = "44d88612fea8a8f36de82e1278abb02f"

// ProbeRequest is the one cheap lookup that proves the URL, the
// certificates and the credentials: the EICAR hash with only Zone and
// LicenseInfo, so TIP sends a few hundred bytes and its licence and quota.
func ProbeRequest() (indicator.Indicator, []string) {
	return indicator.Indicator{Type: indicator.Hash, Value: ProbeHash}, []string{SectionZone, SectionLicense}
}

// ProbeVerdict is what a probe proved.
type ProbeVerdict string

// Probe verdicts.
const (
	// ProbeAccepted: TIP answered the probe; URL, certificates and
	// credentials all work.
	ProbeAccepted ProbeVerdict = "accepted"
	// ProbeMisconfigured: the answer proves that something tipgate was
	// configured with is wrong (credentials or client certificate
	// rejected, TIP's server certificate not verified, a URL that is not
	// TIP's lookup API). Asking again with the same configuration gets the
	// same answer.
	ProbeMisconfigured ProbeVerdict = "misconfigured"
	// ProbeUnreachable: TIP is down, slow or limiting, or tipgate's own
	// layers did not ask it (budget spent); nothing is proved either way.
	ProbeUnreachable ProbeVerdict = "unreachable"
	// ProbeRefused: TIP knew the credentials but refused the lookup (403):
	// the account has no API access, or its daily quota is spent. The
	// second passes at midnight UTC, so it proves no misconfiguration.
	ProbeRefused ProbeVerdict = "refused"
)

// CheckState is the outcome of one step of the probe.
type CheckState string

// Check states.
const (
	CheckOK      CheckState = "ok"
	CheckFailed  CheckState = "failed"
	CheckUnknown CheckState = "unknown" // the probe did not get that far
	CheckSkipped CheckState = "skipped" // not used in this mode (no TLS over http://, no certificate with a token)
)

// Check names, in the order a request goes through them.
const (
	CheckTLS               = "TLS handshake"
	CheckServerCertificate = "server certificate"
	CheckClientCertificate = "client certificate"
	CheckBasic             = "Basic credentials"
	CheckToken             = "token"
	CheckLookupAPI         = "lookup API"
)

// Check is one step of the probe, in plain words.
type Check struct {
	Name  string     `json:"name"`
	State CheckState `json:"state"`
}

// ProbeReport says, step by step, how far the probe got and why it stopped.
// Nothing in it is secret.
type ProbeReport struct {
	Verdict ProbeVerdict `json:"verdict"`
	Checks  []Check      `json:"checks"`
	// Status is TIP's HTTP status; 0 when no answer was received.
	Status int `json:"status,omitempty"`
	// Zone is TIP's zone for the EICAR file, when TIP answered.
	Zone string `json:"zone,omitempty"`
	// License is TIP's LicenseInfo: AccessType, DayRequests, DayQuota and
	// TokenExpirationDate.
	License *License `json:"license,omitempty"`
	// Detail is one or two sentences for a person: what was proved, or
	// what to fix.
	Detail string `json:"detail"`
}

// Check returns the state of the named step, CheckUnknown when absent.
func (r ProbeReport) Check(name string) CheckState {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.State
		}
	}
	return CheckUnknown
}

// tlsProblem is what a transport error says about the TLS layer.
type tlsProblem int

const (
	tlsNone         tlsProblem = iota // not a TLS failure (refused, DNS, timeout, …)
	tlsServerCert                     // TIP's server certificate did not verify
	tlsClientCert                     // TIP rejected (or wanted) the client certificate
	tlsNotTLS                         // the server does not speak TLS
	tlsOtherFailure                   // another alert or handshake failure
)

// Diagnose reads the answer to ProbeRequest, however many of tipgate's
// layers it went through, and says what it proves. c is the client the
// probe used: it knows the mode (certificate or token) and the scheme.
//
// When the request failed with no answer and no TLS error to show for it,
// Diagnose makes one more TLS handshake with TIP, without sending any
// request (so it costs no quota), to find what the HTTP machinery hid: over
// TLS 1.3 TIP rejects a client certificate after the client thinks the
// handshake is done, and HTTP/2 then reports only "client conn could not
// be established" or a broken pipe instead of TIP's alert.
func (c *Client) Diagnose(ctx context.Context, res *Result, err error) ProbeReport {
	r := newReport(c)
	var te *Error
	switch {
	case err == nil && res != nil && res.Found:
		r.Verdict = ProbeAccepted
		r.setAll(CheckOK)
		r.License = res.License
		r.Zone = zoneOf(res)
		r.Detail = "TIP accepted tipgate's " + c.credentialWords() + " and answered the probe"
		if r.License == nil {
			r.Detail += ", but sent no LicenseInfo, so the quota is unknown"
		}
		r.Detail += "."
	case err == nil && res != nil:
		r.Verdict = ProbeMisconfigured
		r.connected()
		r.set(CheckLookupAPI, CheckFailed)
		r.Status = http.StatusNotFound
		r.Detail = "The server at TIPGATE_TIP_URL (" + c.BaseURL() + ") answered 404 Not Found for the EICAR test file, " +
			"which TIP always knows: it is not TIP's lookup API. Check the URL's path prefix (TIP's API is " +
			"<base>/api/hash/<value>), or a proxy in between that answers for it."
	case err == nil:
		r.Verdict = ProbeUnreachable
		r.Detail = "The probe got no answer."
	case !errors.As(err, &te):
		// The caller's own cancellation, or a deadline before any request.
		r.Verdict = ProbeUnreachable
		r.Detail = "The probe was abandoned before TIP answered: " + err.Error()
	case te.Refused:
		r.Verdict = ProbeUnreachable
		r.Detail = "tipgate did not send the probe: " + te.Detail
	case te.Status != 0:
		c.diagnoseStatus(&r, te)
	default:
		c.diagnoseTransport(ctx, &r, te)
	}
	return r
}

// diagnoseStatus reads an HTTP answer other than 200 and 404.
func (c *Client) diagnoseStatus(r *ProbeReport, te *Error) {
	r.Status = te.Status
	r.connected()
	switch {
	case te.Status == http.StatusUnauthorized:
		r.Verdict = ProbeMisconfigured
		r.set(r.credentialCheck(), CheckFailed)
		r.Detail = sentence(te.Detail)
	case te.Status == http.StatusForbidden:
		// TIP knew who asked but refused: no API access, or the day's
		// quota is spent. Either way this account cannot look up now.
		r.Verdict = ProbeRefused
		r.set(r.credentialCheck(), CheckOK)
		r.set(CheckLookupAPI, CheckFailed)
		r.Detail = sentence(te.Detail)
	case te.Status == http.StatusTooManyRequests || te.Status == http.StatusRequestTimeout || te.Status >= 500:
		r.Verdict = ProbeUnreachable
		r.Detail = sentence(te.Detail) + " Lookups are served from the cache until it answers."
	default:
		// A redirect (a login page), a 400 for a well-formed MD5, a 405:
		// whatever answered does not behave like TIP's lookup API.
		r.Verdict = ProbeMisconfigured
		r.set(CheckLookupAPI, CheckFailed)
		r.Detail = fmt.Sprintf("The server at TIPGATE_TIP_URL (%s) does not answer as TIP's lookup API does: %s. "+
			"Check the URL and any proxy in between.", c.BaseURL(), strings.TrimSuffix(te.Detail, "."))
	}
}

// diagnoseTransport reads a failure without an HTTP answer.
func (c *Client) diagnoseTransport(ctx context.Context, r *ProbeReport, te *Error) {
	detail := sentence(te.Detail)
	problem, _ := c.tlsFailure(te.Err)
	if problem == tlsNone && te.Kind == KindUnavailable && c.base.Scheme == "https" {
		if p, d := c.tlsFailure(c.handshake(ctx)); p != tlsNone {
			problem = p
			detail = sentence("the TLS handshake with TIP failed: " + d)
		}
	}
	switch problem {
	case tlsServerCert:
		r.Verdict = ProbeMisconfigured
		r.set(CheckTLS, CheckFailed)
		r.set(CheckServerCertificate, CheckFailed)
	case tlsClientCert:
		// The client verifies the server's certificate before it sends
		// its own, so the server's was fine.
		r.Verdict = ProbeMisconfigured
		r.set(CheckTLS, CheckFailed)
		r.set(CheckServerCertificate, CheckOK)
		if c.leaf != nil {
			r.set(CheckClientCertificate, CheckFailed)
		} else {
			r.set(CheckToken, CheckFailed)
		}
	case tlsNotTLS:
		r.Verdict = ProbeMisconfigured
		r.set(CheckTLS, CheckFailed)
	case tlsOtherFailure:
		r.Verdict = ProbeUnreachable
		r.set(CheckTLS, CheckFailed)
	default:
		r.Verdict = ProbeUnreachable
		detail += " Lookups are served from the cache until it answers."
	}
	r.Detail = detail
}

// handshakeWait bounds how long handshake waits for TIP's verdict on the
// client certificate once the handshake is done.
const handshakeWait = 2 * time.Second

// handshake connects to TIP and completes a TLS handshake as the client's
// transport would, sends nothing, and returns the first TLS error: the
// handshake's own, or an alert TIP sends right after it (TLS 1.3 rejects a
// client certificate that way). nil means no TLS error was seen, or that a
// proxy stands between (the transport's CONNECT is not repeated here).
func (c *Client) handshake(ctx context.Context) error {
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil || tr.DialContext == nil {
		return nil
	}
	if tr.Proxy != nil {
		if u, err := tr.Proxy(&http.Request{URL: c.base}); err != nil || u != nil {
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, min(c.timeout, setupTimeout))
	defer cancel()
	host := c.base.Host
	if c.base.Port() == "" {
		host = net.JoinHostPort(c.base.Hostname(), "443")
	}
	raw, err := tr.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	defer raw.Close()
	conf := tr.TLSClientConfig.Clone()
	conf.ServerName = c.base.Hostname()
	// Offering HTTP/2 makes a server that accepted the certificate speak
	// first (its SETTINGS frame), so the read below returns at once either
	// way.
	conf.NextProtos = []string{"h2", "http/1.1"}
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(handshakeWait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetReadDeadline(deadline)
	var b [1]byte
	_, err = conn.Read(b[:])
	return err
}

func newReport(c *Client) ProbeReport {
	r := ProbeReport{}
	tlsState := CheckUnknown
	if c.base.Scheme == "http" {
		tlsState = CheckSkipped
	}
	r.Checks = append(r.Checks, Check{CheckTLS, tlsState}, Check{CheckServerCertificate, tlsState})
	if c.leaf != nil {
		r.Checks = append(r.Checks, Check{CheckClientCertificate, tlsState}, Check{CheckBasic, CheckUnknown})
	} else {
		r.Checks = append(r.Checks, Check{CheckToken, CheckUnknown})
	}
	r.Checks = append(r.Checks, Check{CheckLookupAPI, CheckUnknown})
	return r
}

// set changes one step, unless it does not apply in this mode.
func (r *ProbeReport) set(name string, s CheckState) {
	for i := range r.Checks {
		if r.Checks[i].Name == name && r.Checks[i].State != CheckSkipped {
			r.Checks[i].State = s
		}
	}
}

func (r *ProbeReport) setAll(s CheckState) {
	for _, c := range r.Checks {
		r.set(c.Name, s)
	}
}

// connected marks what any HTTP answer proves: the TLS handshake, with both
// certificates, went through.
func (r *ProbeReport) connected() {
	r.set(CheckTLS, CheckOK)
	r.set(CheckServerCertificate, CheckOK)
	r.set(CheckClientCertificate, CheckOK)
}

func (r *ProbeReport) credentialCheck() string {
	for _, c := range r.Checks {
		if c.Name == CheckToken {
			return CheckToken
		}
	}
	return CheckBasic
}

func (c *Client) credentialWords() string {
	if c.leaf != nil {
		return "client certificate and Basic credentials"
	}
	return "token"
}

// zoneOf reads the Zone section, "" when absent or unreadable.
func zoneOf(res *Result) string {
	raw, ok := res.Sections[SectionZone]
	if !ok {
		return ""
	}
	return strings.Trim(strings.TrimSpace(string(raw)), `"`)
}

// sentence ends s with one full stop (TIP's reasons and tipgate's details
// may or may not end with one).
func sentence(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), ".")
	if strings.HasSuffix(s, "?") || strings.HasSuffix(s, "!") {
		return s
	}
	return s + "."
}
