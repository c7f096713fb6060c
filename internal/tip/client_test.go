package tip_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

func TestLookupRequestURI(t *testing.T) {
	creds := newCreds(t)
	rec := &recorder{}
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, rec)
	tests := []struct {
		name     string
		prefix   string
		ind      indicator.Indicator
		sections []string
		count    int
		want     string
	}{
		{
			name: "hash, no sections, no count",
			ind:  indicator.Indicator{Type: indicator.Hash, Value: "3935aae80faf8d03781c2d611a4e183f"},
			want: "/api/hash/3935aae80faf8d03781c2d611a4e183f",
		},
		{
			name:     "ip with sections and count",
			ind:      indicator.Indicator{Type: indicator.IP, Value: "39.90.148.83"},
			sections: []string{"IpGeneralInfo", "Zone", "LicenseInfo"},
			count:    10,
			want:     "/api/ip/39.90.148.83?sections=IpGeneralInfo,Zone,LicenseInfo&count=10",
		},
		{
			name:  "domain with count only",
			ind:   indicator.Indicator{Type: indicator.Domain, Value: "xn--e1afmkfd.xn--p1ai"},
			count: 1,
			want:  "/api/domain/xn--e1afmkfd.xn--p1ai?count=1",
		},
		{
			name:     "sections keep the caller's order, empty count omitted",
			ind:      indicator.Indicator{Type: indicator.Domain, Value: "example.com"},
			sections: []string{"Zone", "DomainGeneralInfo"},
			count:    -3,
			want:     "/api/domain/example.com?sections=Zone,DomainGeneralInfo",
		},
		{
			name:     "empty sections slice omitted",
			ind:      indicator.Indicator{Type: indicator.Domain, Value: "example.com"},
			sections: []string{},
			count:    1000,
			want:     "/api/domain/example.com?count=1000",
		},
		{
			name:     "section names cannot add parameters",
			ind:      indicator.Indicator{Type: indicator.Domain, Value: "example.com"},
			sections: []string{"Zone&count=1", "A B"},
			want:     "/api/domain/example.com?sections=Zone%26count%3D1,A+B",
		},
		{
			name:     "url with path, query and fragment",
			ind:      indicator.Indicator{Type: indicator.URL, Value: "example.com/a/b?x=1&y=2#frag"},
			sections: []string{"Zone"},
			count:    2,
			want:     "/api/url/example.com%2Fa%2Fb%3Fx%3D1%26y%3D2%23frag?sections=Zone&count=2",
		},
		{
			name: "url with percent, space, plus, equals and other reserved characters",
			ind:  indicator.Indicator{Type: indicator.URL, Value: "http://ex.com/100%/a b+c=d;e@f:g$h!i*j(k)l'm~n_o-p.q"},
			want: "/api/url/http%3A%2F%2Fex.com%2F100%25%2Fa%20b%2Bc%3Dd%3Be%40f%3Ag%24h%21i%2Aj%28k%29l%27m~n_o-p.q",
		},
		{
			name: "url with an already escaped sequence is escaped again",
			ind:  indicator.Indicator{Type: indicator.URL, Value: "ex.com/a%2Fb%20c"},
			want: "/api/url/ex.com%2Fa%252Fb%2520c",
		},
		{
			name: "unicode url",
			ind:  indicator.Indicator{Type: indicator.URL, Value: "пример.рф/путь?q=ü"},
			want: "/api/url/%D0%BF%D1%80%D0%B8%D0%BC%D0%B5%D1%80.%D1%80%D1%84%2F%D0%BF%D1%83%D1%82%D1%8C%3Fq%3D%C3%BC",
		},
		{
			name:  "url trying to climb out of its path",
			ind:   indicator.Indicator{Type: indicator.URL, Value: "../../hash/x?sections=LicenseInfo"},
			count: 5,
			want:  "/api/url/..%2F..%2Fhash%2Fx%3Fsections%3DLicenseInfo?count=5",
		},
		{
			name: "url with CR LF and NUL",
			ind:  indicator.Indicator{Type: indicator.URL, Value: "ex.com/\r\nX-Evil: 1\x00"},
			want: "/api/url/ex.com%2F%0D%0AX-Evil%3A%201%00",
		},
		{
			name:   "base URL path prefix kept",
			prefix: "/tip/v1/",
			ind:    indicator.Indicator{Type: indicator.URL, Value: "a.com/b"},
			want:   "/tip/v1/api/url/a.com%2Fb",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, pfxConfig(creds, srv.URL+tt.prefix))
			if _, err := c.Lookup(t.Context(), tt.ind, tt.sections, tt.count); err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			r := rec.request(t)
			if r.RequestURI != tt.want {
				t.Errorf("RequestURI = %q, want %q", r.RequestURI, tt.want)
			}
			if r.Method != http.MethodGet {
				t.Errorf("method = %s, want GET", r.Method)
			}
			wantPath := strings.TrimRight(tt.prefix, "/") + "/api/" + string(tt.ind.Type) + "/" + tt.ind.Value
			if r.URL.Path != wantPath {
				t.Errorf("decoded path = %q, want %q", r.URL.Path, wantPath)
			}
			for k := range r.URL.Query() {
				if k != "sections" && k != "count" {
					t.Errorf("query has parameter %q; want only sections and count", k)
				}
			}
		})
	}
}

func TestLookupOverHTTP2(t *testing.T) {
	creds := newCreds(t)
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(rec)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{creds.Server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: creds.ClientCAs()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := newClient(t, pfxConfig(creds, srv.URL))
	ind := indicator.Indicator{Type: indicator.URL, Value: "ex.com/a b?c=d&e#f"}
	if _, err := c.Lookup(t.Context(), ind, []string{"Zone", "UrlGeneralInfo"}, 3); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	r := rec.request(t)
	if r.ProtoMajor != 2 {
		t.Errorf("protocol = %s, want HTTP/2", r.Proto)
	}
	if want := "/api/url/ex.com%2Fa%20b%3Fc%3Dd%26e%23f?sections=Zone,UrlGeneralInfo&count=3"; r.RequestURI != want {
		t.Errorf("RequestURI = %q, want %q", r.RequestURI, want)
	}
}

func TestLookupRefusesUnsendableIndicators(t *testing.T) {
	creds := newCreds(t)
	rec := &recorder{}
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, rec)
	c := newClient(t, pfxConfig(creds, srv.URL))
	for _, ind := range []indicator.Indicator{
		{Type: indicator.URL, Value: ""},
		{Type: indicator.URL, Value: "."},
		{Type: indicator.Domain, Value: ".."},
		{Type: "publications", Value: "x"},
		{Type: "url/../hash", Value: "x"},
	} {
		t.Run(ind.String(), func(t *testing.T) {
			_, err := c.Lookup(t.Context(), ind, nil, 0)
			var e *tip.Error
			if !errors.As(err, &e) || e.Kind != tip.KindBadRequest {
				t.Fatalf("Lookup error = %v, want a %s *tip.Error", err, tip.KindBadRequest)
			}
		})
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.last != nil {
		t.Errorf("the server saw %s; want no request", rec.last.RequestURI)
	}
}

func TestLookupPFXModeHeadersAndCertificate(t *testing.T) {
	creds := newCreds(t)
	rec := &recorder{}
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, rec)
	c := newClient(t, pfxConfig(creds, srv.URL))
	if _, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.Domain, Value: "example.com"}, nil, 1); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	r := rec.request(t)
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(creds.Username+":"+creds.Password))
	if got := r.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization = %q, want %q", got, wantAuth)
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		t.Errorf("Accept = %q, want application/json", got)
	}
	if got := r.Header.Get("User-Agent"); got != "tipgate" {
		t.Errorf("User-Agent = %q, want tipgate", got)
	}
	if r.TLS == nil {
		t.Fatal("request did not come over TLS")
	}
	peers := r.TLS.PeerCertificates
	if len(peers) != 2 {
		t.Fatalf("client presented %d certificates, want 2 (leaf and CA)", len(peers))
	}
	if !peers[0].Equal(creds.ClientCert) {
		t.Errorf("client leaf = %s, want %s", peers[0].Subject, creds.ClientCert.Subject)
	}
	if !peers[1].Equal(creds.CA) {
		t.Errorf("client chain[1] = %s, want the CA %s", peers[1].Subject, creds.CA.Subject)
	}
	if got := c.Certificate(); got == nil || !got.Equal(creds.ClientCert) {
		t.Errorf("Certificate() = %v, want the client leaf", got)
	}
}

func TestLookupTokenModeHeaders(t *testing.T) {
	creds := newCreds(t)
	rec := &recorder{}
	srv := newTLSServer(t, creds, tls.VerifyClientCertIfGiven, rec)
	cfg := tokenConfig(creds, srv.URL)
	cfg.UserAgent = "tipgate/1.2.3"
	c := newClient(t, cfg)
	if _, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.IP, Value: "1.2.3.4"}, nil, 0); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	r := rec.request(t)
	if got, want := r.Header.Get("Authorization"), "Bearer "+creds.Token; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got := r.Header.Get("User-Agent"); got != "tipgate/1.2.3" {
		t.Errorf("User-Agent = %q, want tipgate/1.2.3", got)
	}
	if n := len(r.TLS.PeerCertificates); n != 0 {
		t.Errorf("client presented %d certificates in token mode, want 0", n)
	}
	if got := c.Certificate(); got != nil {
		t.Errorf("Certificate() = %s in token mode, want nil", got.Subject)
	}
}

func TestLookupSuccess(t *testing.T) {
	creds := newCreds(t)
	const body = `{
  "LicenseInfo": {"AccessType": "Commercial", "DayRequests": 1532, "DayQuota": 10000, "TokenExpirationDate": "2027-01-31T00:00:00Z"},
  "Zone": "Yellow",
  "FileGeneralInfo": {"Md5": "3935AAE80FAF8D03781C2D611A4E183F", "Size": 2833840},
  "FileNames": [{"FileName": "gs-netcat", "FileNamesHitsCount": 100}]
}`
	rec := &recorder{body: body}
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, rec)
	c := newClient(t, pfxConfig(creds, srv.URL))
	before := time.Now()
	res, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.Hash, Value: "3935aae80faf8d03781c2d611a4e183f"}, nil, 2)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if !res.Found {
		t.Error("Found = false, want true")
	}
	wantSections := map[string]string{
		"LicenseInfo":     `{"AccessType": "Commercial", "DayRequests": 1532, "DayQuota": 10000, "TokenExpirationDate": "2027-01-31T00:00:00Z"}`,
		"Zone":            `"Yellow"`,
		"FileGeneralInfo": `{"Md5": "3935AAE80FAF8D03781C2D611A4E183F", "Size": 2833840}`,
		"FileNames":       `[{"FileName": "gs-netcat", "FileNamesHitsCount": 100}]`,
	}
	if len(res.Sections) != len(wantSections) {
		t.Errorf("got %d sections, want %d", len(res.Sections), len(wantSections))
	}
	for name, want := range wantSections {
		if got := string(res.Sections[name]); got != want {
			t.Errorf("section %s = %s, want %s", name, got, want)
		}
	}
	wantExp := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	if l := res.License; l == nil || l.AccessType != "Commercial" || l.DayRequests != 1532 || l.DayQuota != 10000 ||
		l.TokenExpirationDate == nil || !l.TokenExpirationDate.Equal(wantExp) {
		t.Errorf("License = %+v, want Commercial 1532/10000 expiring %s", res.License, wantExp)
	}
	if res.ReceivedAt.Before(before) || res.ReceivedAt.After(time.Now()) || res.ReceivedAt.Location() != time.UTC {
		t.Errorf("ReceivedAt = %v, want a UTC time during the call", res.ReceivedAt)
	}
}

func TestLookupStatuses(t *testing.T) {
	creds := newCreds(t)
	type answer struct {
		status      int
		contentType string
		header      map[string]string
		body        string
	}
	tests := []struct {
		name       string
		answer     answer
		maxBody    int64
		wantKind   tip.ErrorKind // "" means success
		wantFound  bool
		wantDetail []string
		wantRetry  time.Duration
	}{
		{name: "200", answer: answer{status: 200, body: `{"Zone":"Red"}`}, wantFound: true},
		{name: "200 empty object", answer: answer{status: 200, body: ` {} `}, wantFound: true},
		{name: "404", answer: answer{status: 404, contentType: "text/html", body: "<h1>Not Found</h1>"}},
		{
			name:       "400 JSON",
			answer:     answer{status: 400, contentType: "application/json", body: `{"code":400,"message":"No search result. Please check your request"}`},
			wantKind:   tip.KindBadRequest,
			wantDetail: []string{"invalid", "No search result. Please check your request"},
		},
		{
			name:       "400 HTML",
			answer:     answer{status: 400, contentType: "text/html", body: "<html><head><title>Error</title><style>p{}</style></head><body><p>Request not\n\n processed:&nbsp;incorrect &amp; invalid query</p></body></html>"},
			wantKind:   tip.KindBadRequest,
			wantDetail: []string{"Request not processed: incorrect & invalid query"},
		},
		{
			name:       "400 without a body",
			answer:     answer{status: 400},
			wantKind:   tip.KindBadRequest,
			wantDetail: []string{"no reason"},
		},
		{
			name:       "414",
			answer:     answer{status: 414, contentType: "text/html", body: "<html><body><h1>414 Request-URI Too Large</h1></body></html>"},
			wantKind:   tip.KindBadRequest,
			wantDetail: []string{"too long", "2000", "414 Request-URI Too Large"},
		},
		{
			name:       "401",
			answer:     answer{status: 401, body: "Unauthorized"},
			wantKind:   tip.KindUnauthorized,
			wantDetail: []string{"credentials", "Terms and Conditions", "https://tip.kaspersky.com", "client certificate"},
		},
		{
			name:       "403",
			answer:     answer{status: 403, contentType: "application/json", body: `{"error":{"message":"Daily quota exceeded"}}`},
			wantKind:   tip.KindForbidden,
			wantDetail: []string{"no access", "quota", "Daily quota exceeded"},
		},
		{
			name:       "429 with Retry-After seconds",
			answer:     answer{status: 429, header: map[string]string{"Retry-After": "7"}},
			wantKind:   tip.KindRateLimited,
			wantDetail: []string{"rate", "7s"},
			wantRetry:  7 * time.Second,
		},
		{
			name:       "429 without Retry-After",
			answer:     answer{status: 429},
			wantKind:   tip.KindRateLimited,
			wantDetail: []string{"try again later"},
		},
		{name: "500", answer: answer{status: 500}, wantKind: tip.KindUnavailable, wantDetail: []string{"500 Internal Server Error"}},
		{name: "502", answer: answer{status: 502, contentType: "text/html", body: "<html>bad gateway</html>"}, wantKind: tip.KindUnavailable, wantDetail: []string{"502 Bad Gateway"}},
		{name: "503", answer: answer{status: 503}, wantKind: tip.KindUnavailable, wantDetail: []string{"503 Service Unavailable"}},
		{name: "504", answer: answer{status: 504}, wantKind: tip.KindUnavailable, wantDetail: []string{"504"}},
		{name: "redirect is not followed", answer: answer{status: 302, header: map[string]string{"Location": "/login"}}, wantKind: tip.KindUnavailable, wantDetail: []string{"unexpected 302 Found"}},
		{name: "204", answer: answer{status: 204}, wantKind: tip.KindUnavailable, wantDetail: []string{"unexpected 204"}},
		{name: "418", answer: answer{status: 418}, wantKind: tip.KindUnavailable, wantDetail: []string{"unexpected 418"}},
		{name: "200 not JSON", answer: answer{status: 200, contentType: "text/html", body: "<html>login</html>"}, wantKind: tip.KindUnavailable, wantDetail: []string{"unreadable answer"}},
		{name: "200 JSON array", answer: answer{status: 200, body: `[{"Zone":"Red"}]`}, wantKind: tip.KindUnavailable, wantDetail: []string{"unreadable answer", "not a JSON object"}},
		{name: "200 JSON null", answer: answer{status: 200, body: `null`}, wantKind: tip.KindUnavailable, wantDetail: []string{"unreadable answer"}},
		{name: "200 empty", answer: answer{status: 200}, wantKind: tip.KindUnavailable, wantDetail: []string{"unreadable answer", "empty"}},
		{name: "200 truncated JSON", answer: answer{status: 200, body: `{"Zone":"Red","FileNames":[`}, wantKind: tip.KindUnavailable, wantDetail: []string{"unreadable answer"}},
		{
			name:       "200 huge body",
			answer:     answer{status: 200, body: `{"Zone":"` + strings.Repeat("x", 3<<20) + `"}`},
			maxBody:    2 << 20,
			wantKind:   tip.KindUnavailable,
			wantDetail: []string{"unreadable answer", "larger than 2 MiB"},
		},
	}
	var mu sync.Mutex
	var current answer
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := current
		mu.Unlock()
		if a.contentType != "" {
			w.Header().Set("Content-Type", a.contentType)
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			current = tt.answer
			mu.Unlock()
			c := newClient(t, pfxConfig(creds, srv.URL))
			if tt.maxBody > 0 {
				tip.SetMaxBody(c, tt.maxBody)
			}
			res, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.Domain, Value: "example.com"}, []string{"Zone"}, 10)
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("Lookup error = %v, want success", err)
				}
				if res.Found != tt.wantFound {
					t.Errorf("Found = %v, want %v", res.Found, tt.wantFound)
				}
				if res.ReceivedAt.IsZero() {
					t.Error("ReceivedAt is zero, want the time of the answer")
				}
				return
			}
			if res != nil {
				t.Errorf("Result = %+v, want nil with an error", res)
			}
			var e *tip.Error
			if !errors.As(err, &e) {
				t.Fatalf("Lookup error = %v (%T), want *tip.Error", err, err)
			}
			if e.Kind != tt.wantKind {
				t.Errorf("Kind = %s, want %s (detail %q)", e.Kind, tt.wantKind, e.Detail)
			}
			if e.Status != tt.answer.status {
				t.Errorf("Status = %d, want %d", e.Status, tt.answer.status)
			}
			for _, want := range tt.wantDetail {
				if !strings.Contains(e.Error(), want) {
					t.Errorf("error %q does not contain %q", e.Error(), want)
				}
			}
			if e.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetry)
			}
			wantTransient := tt.wantKind == tip.KindRateLimited || tt.wantKind == tip.KindUnavailable
			if e.Transient() != wantTransient {
				t.Errorf("Transient() = %v, want %v", e.Transient(), wantTransient)
			}
		})
	}
}

func TestLookup401InTokenModeNamesTheToken(t *testing.T) {
	creds := newCreds(t)
	srv := newTLSServer(t, creds, tls.NoClientCert, &recorder{status: 401, body: "{}"})
	c := newClient(t, tokenConfig(creds, srv.URL))
	_, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.IP, Value: "1.2.3.4"}, nil, 0)
	var e *tip.Error
	if !errors.As(err, &e) || e.Kind != tip.KindUnauthorized {
		t.Fatalf("Lookup error = %v, want %s", err, tip.KindUnauthorized)
	}
	for _, want := range []string{"token", "Terms and Conditions"} {
		if !strings.Contains(e.Detail, want) {
			t.Errorf("detail %q does not contain %q", e.Detail, want)
		}
	}
}

// blockingHandler holds each request until the client goes away, telling
// started when one arrives.
func blockingHandler(started chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
			// Answer nothing: a 200 written now could still reach the client.
			panic(http.ErrAbortHandler)
		case <-time.After(10 * time.Second):
		}
	}
}

func TestLookupTimeout(t *testing.T) {
	creds := newCreds(t)
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, blockingHandler(nil))
	cfg := pfxConfig(creds, srv.URL)
	cfg.Timeout = 150 * time.Millisecond
	c := newClient(t, cfg)
	_, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.IP, Value: "1.2.3.4"}, nil, 0)
	var e *tip.Error
	if !errors.As(err, &e) || e.Kind != tip.KindTimeout {
		t.Fatalf("Lookup error = %v, want %s", err, tip.KindTimeout)
	}
	if !e.Transient() {
		t.Error("a timeout is not Transient, want it to be")
	}
	if !strings.Contains(e.Detail, "did not answer within 150ms") {
		t.Errorf("detail = %q, want it to say TIP did not answer within 150ms", e.Detail)
	}
}

func TestLookupCallerDeadline(t *testing.T) {
	creds := newCreds(t)
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, blockingHandler(nil))
	c := newClient(t, pfxConfig(creds, srv.URL)) // 30s default timeout
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	_, err := c.Lookup(ctx, indicator.Indicator{Type: indicator.IP, Value: "1.2.3.4"}, nil, 0)
	var e *tip.Error
	if !errors.As(err, &e) || e.Kind != tip.KindTimeout {
		t.Fatalf("Lookup error = %v, want %s", err, tip.KindTimeout)
	}
}

func TestLookupCallerCancels(t *testing.T) {
	creds := newCreds(t)
	started := make(chan struct{}, 1)
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, blockingHandler(started))
	c := newClient(t, pfxConfig(creds, srv.URL))
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	_, err := c.Lookup(ctx, indicator.Indicator{Type: indicator.IP, Value: "1.2.3.4"}, nil, 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup error = %v, want one wrapping context.Canceled", err)
	}
}

func TestLookupTLSFailures(t *testing.T) {
	creds := newCreds(t)
	other := newCreds(t)
	okHandler := &recorder{}
	requireCert := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, okHandler)
	// A server that trusts another CA does not know our client certificate.
	strangerSrv := httptest.NewUnstartedServer(okHandler)
	strangerSrv.TLS = &tls.Config{Certificates: []tls.Certificate{creds.Server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: other.ClientCAs()}
	strangerSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	strangerSrv.StartTLS()
	t.Cleanup(strangerSrv.Close)
	plain := httptest.NewServer(okHandler)
	t.Cleanup(plain.Close)

	tests := []struct {
		name     string
		cfg      tip.Config
		dialHost string // connect here whatever the URL's host
		want     []string
	}{
		{
			name: "server certificate not trusted",
			cfg:  func() tip.Config { c := pfxConfig(creds, requireCert.URL); c.CAPEM = nil; return c }(),
			want: []string{"TLS handshake with TIP failed", "not signed by an authority", "TIPGATE_TIP_CA_FILE"},
		},
		{
			name: "server certificate from another CA",
			cfg:  func() tip.Config { c := pfxConfig(creds, requireCert.URL); c.CAPEM = other.CAPEM; return c }(),
			want: []string{"TLS handshake with TIP failed", "TIPGATE_TIP_CA_FILE"},
		},
		{
			name:     "server certificate for another name",
			cfg:      pfxConfig(creds, strings.Replace(requireCert.URL, "127.0.0.1", "tip.example", 1)),
			dialHost: requireCert.Listener.Addr().String(),
			want:     []string{"TLS handshake with TIP failed", "does not name the host"},
		},
		{
			name: "client certificate unknown to TIP",
			cfg:  pfxConfig(creds, strangerSrv.URL),
			want: []string{"TLS handshake with TIP failed", "did not accept the client certificate", "TIPGATE_TIP_PFX_FILE"},
		},
		{
			name: "token where TIP wants a certificate",
			cfg:  tokenConfig(creds, requireCert.URL),
			want: []string{"TLS handshake with TIP failed", "client certificate", "instead of a token"},
		},
		{
			name: "server does not speak TLS",
			cfg:  pfxConfig(creds, strings.Replace(plain.URL, "http://", "https://", 1)),
			want: []string{"does not speak TLS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.cfg)
			if tt.dialHost != "" {
				tip.DialOnly(c, tt.dialHost)
			}
			_, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.Domain, Value: "example.com"}, nil, 1)
			var e *tip.Error
			if !errors.As(err, &e) || e.Kind != tip.KindUnavailable {
				t.Fatalf("Lookup error = %v, want %s", err, tip.KindUnavailable)
			}
			for _, want := range tt.want {
				if !strings.Contains(e.Detail, want) {
					t.Errorf("detail %q does not contain %q", e.Detail, want)
				}
			}
		})
	}
}

func TestLookupConnectionRefused(t *testing.T) {
	creds := newCreds(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := newClient(t, pfxConfig(creds, "https://"+addr))
	_, err = c.Lookup(t.Context(), indicator.Indicator{Type: indicator.Domain, Value: "example.com"}, nil, 1)
	var e *tip.Error
	if !errors.As(err, &e) || e.Kind != tip.KindUnavailable {
		t.Fatalf("Lookup error = %v, want %s", err, tip.KindUnavailable)
	}
	if !strings.Contains(e.Detail, "could not be reached") || !e.Transient() {
		t.Errorf("detail %q, transient %v; want 'could not be reached', transient", e.Detail, e.Transient())
	}
	if strings.Contains(e.Detail, "example.com") {
		t.Errorf("detail %q repeats the request URL", e.Detail)
	}
}

func TestLookupReusesConnections(t *testing.T) {
	creds := newCreds(t)
	var mu sync.Mutex
	conns := map[string]bool{}
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		// Bodies longer than the client reads for a reason, which it must
		// drain for the connection to be reused.
		switch r.URL.Path {
		case "/api/domain/bad.example":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"message":"bad"}`+strings.Repeat(" ", 100<<10))
			return
		case "/api/domain/unknown.example":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, strings.Repeat("<p>not found</p>", 1000))
			return
		}
		_, _ = io.WriteString(w, `{"Zone":"Green"}`)
	}))
	c := newClient(t, pfxConfig(creds, srv.URL))
	for i := range 10 {
		v := []string{"example.com", "bad.example", "unknown.example"}[i%3]
		_, _ = c.Lookup(t.Context(), indicator.Indicator{Type: indicator.Domain, Value: v}, nil, 1)
	}
	mu.Lock()
	defer mu.Unlock()
	// net/http gives up reusing a connection whose request write it has not
	// seen finish within 50ms, which can happen on a loaded machine; without
	// draining, every lookup would need a connection of its own.
	if len(conns) > 3 {
		t.Errorf("10 sequential lookups used %d connections, want 1 (at most 3)", len(conns))
	}
}

func TestLookupConcurrent(t *testing.T) {
	creds := newCreds(t)
	srv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, &recorder{body: `{"Zone":"Red","LicenseInfo":{"DayRequests":1,"DayQuota":2}}`})
	c := newClient(t, pfxConfig(creds, srv.URL))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			res, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.IP, Value: fmt.Sprintf("10.0.0.%d", i)}, []string{"Zone"}, 1)
			if err == nil && (res.License == nil || res.License.DayQuota != 2) {
				err = fmt.Errorf("License = %+v, want DayQuota 2", res.License)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestNoSecretInErrors(t *testing.T) {
	creds := newCreds(t)
	basic := base64.StdEncoding.EncodeToString([]byte(creds.Username + ":" + creds.Password))
	secrets := map[string]string{
		"password":       creds.Password,
		"token":          creds.Token,
		"PFX password":   creds.PFXPassword,
		"Basic value":    basic,
		"user:password":  creds.Username + ":" + creds.Password,
		"reversed basic": "Basic " + basic,
	}
	// A hostile or buggy error page that echoes the credentials it was sent.
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := map[string]int{"/api/ip/1.1.1.1": 400, "/api/ip/2.2.2.2": 401, "/api/ip/3.3.3.3": 403, "/api/ip/4.4.4.4": 414}[r.URL.Path]
		if status == 0 {
			status = 400
		}
		sent := []string{r.Header.Get("Authorization")}
		if user, pass, ok := r.BasicAuth(); ok {
			sent = append(sent, user+":"+pass, pass)
		}
		sent = append(sent, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if r.URL.Path == "/api/ip/5.5.5.5" {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<html><body><p>you sent %s</p></body></html>", html.EscapeString(strings.Join(sent, " and ")))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "you sent " + strings.Join(sent, " and ")})
	})
	pfxSrv := newTLSServer(t, creds, tls.RequireAndVerifyClientCert, echo)
	tokenSrv := newTLSServer(t, creds, tls.NoClientCert, echo)

	var msgs []string
	for _, c := range []*tip.Client{newClient(t, pfxConfig(creds, pfxSrv.URL)), newClient(t, tokenConfig(creds, tokenSrv.URL))} {
		for _, ip := range []string{"1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5"} {
			_, err := c.Lookup(t.Context(), indicator.Indicator{Type: indicator.IP, Value: ip}, nil, 0)
			if err == nil {
				t.Fatalf("Lookup %s: no error, want one", ip)
			}
			msgs = append(msgs, err.Error())
		}
	}
	bad := []tip.Config{
		func() tip.Config { c := pfxConfig(creds, pfxSrv.URL); c.PFXPassword = creds.Password; return c }(),
		func() tip.Config { c := pfxConfig(creds, pfxSrv.URL); c.Token = creds.Token; return c }(),
		func() tip.Config { c := pfxConfig(creds, pfxSrv.URL); c.Username = ""; c.PFX = []byte("x"); return c }(),
		func() tip.Config {
			c := tokenConfig(creds, pfxSrv.URL)
			c.Password = creds.Password
			c.Token = ""
			return c
		}(),
		func() tip.Config { c := tokenConfig(creds, pfxSrv.URL); c.Token += " \n"; return c }(),
		func() tip.Config {
			c := pfxConfig(creds, "https://"+creds.Username+":"+creds.Password+"@127.0.0.1/")
			return c
		}(),
		func() tip.Config { c := pfxConfig(creds, "https://127.0.0.1:"+creds.Password+"/"); return c }(),
		func() tip.Config { c := pfxConfig(creds, "ht tp://"+creds.Password); return c }(),
	}
	for _, cfg := range bad {
		_, err := tip.New(cfg)
		if err == nil {
			t.Fatalf("New(%+v): no error, want one", cfg.BaseURL)
		}
		msgs = append(msgs, err.Error())
	}
	for _, msg := range msgs {
		for name, secret := range secrets {
			if strings.Contains(msg, secret) {
				t.Errorf("error %q contains the %s", msg, name)
			}
		}
	}
}

func TestNew(t *testing.T) {
	creds := newCreds(t)
	const base = "https://127.0.0.1:1"
	tests := []struct {
		name    string
		cfg     func() tip.Config
		want    []string // substrings of the error; nil means success
		wantPFX bool     // the error wraps tip.ErrPFXPassword
	}{
		{name: "PFX mode", cfg: func() tip.Config { return pfxConfig(creds, base) }},
		{name: "token mode", cfg: func() tip.Config { return tokenConfig(creds, base) }},
		{name: "system roots", cfg: func() tip.Config { c := pfxConfig(creds, base); c.CAPEM = nil; return c }},
		{name: "empty URL", cfg: func() tip.Config { return pfxConfig(creds, "") }, want: []string{"TIPGATE_TIP_URL", "empty"}},
		{name: "relative URL", cfg: func() tip.Config { return pfxConfig(creds, "tip.kaspersky.com") }, want: []string{"TIPGATE_TIP_URL", "https://"}},
		{name: "ftp URL", cfg: func() tip.Config { return pfxConfig(creds, "ftp://tip.kaspersky.com") }, want: []string{"https://"}},
		{name: "no host", cfg: func() tip.Config { return pfxConfig(creds, "https:///api") }, want: []string{"no host"}},
		{name: "opaque", cfg: func() tip.Config { return pfxConfig(creds, "https:tip.kaspersky.com") }, want: []string{"no host"}},
		{name: "query", cfg: func() tip.Config { return pfxConfig(creds, "https://tip.kaspersky.com/?x=1") }, want: []string{"query"}},
		{name: "credentials in URL", cfg: func() tip.Config { return pfxConfig(creds, "https://u:p@tip.kaspersky.com") }, want: []string{"credentials"}},
		{name: "unparsable URL", cfg: func() tip.Config { return pfxConfig(creds, "https://tip.kaspersky.com:port/") }, want: []string{"not a valid URL"}},
		{name: "negative timeout", cfg: func() tip.Config { c := pfxConfig(creds, base); c.Timeout = -time.Second; return c }, want: []string{"TIPGATE_TIP_TIMEOUT"}},
		{name: "no credentials", cfg: func() tip.Config { return tip.Config{BaseURL: base} }, want: []string{"no TIP credentials", "TIPGATE_TIP_TOKEN"}},
		{name: "both modes", cfg: func() tip.Config { c := pfxConfig(creds, base); c.Token = "abc"; return c }, want: []string{"both", "TIPGATE_TIP_PFX_FILE", "TIPGATE_TIP_TOKEN"}},
		{name: "decoded certificate", cfg: func() tip.Config {
			c := pfxConfig(creds, base)
			cert, err := tip.LoadPFX(c.PFX, c.PFXPassword)
			if err != nil {
				t.Fatal(err)
			}
			c.PFX, c.PFXPassword, c.Certificate = nil, "", &cert
			return c
		}},
		{name: "certificate and token", cfg: func() tip.Config {
			c := tokenConfig(creds, base)
			cert, _ := tip.LoadPFX(creds.ClientPFX, creds.PFXPassword)
			c.Certificate = &cert
			return c
		}, want: []string{"both", "TIPGATE_TIP_TOKEN"}},
		{name: "username with colon", cfg: func() tip.Config { c := pfxConfig(creds, base); c.Username = "a:b"; return c }, want: []string{"colon"}},
		{name: "wrong PFX password", cfg: func() tip.Config { c := pfxConfig(creds, base); c.PFXPassword = "wrong"; return c }, want: []string{"TIPGATE_TIP_PFX_PASSWORD", "password is wrong"}, wantPFX: true},
		{name: "garbage PFX", cfg: func() tip.Config { c := pfxConfig(creds, base); c.PFX = []byte("not a pfx at all"); return c }, want: []string{"TIPGATE_TIP_PFX_FILE", "not a PFX"}},
		{name: "CA bundle without certificates", cfg: func() tip.Config { c := pfxConfig(creds, base); c.CAPEM = []byte("# empty\n"); return c }, want: []string{"TIPGATE_TIP_CA_FILE", "no PEM certificate"}},
		{name: "token with a newline", cfg: func() tip.Config { c := tokenConfig(creds, base); c.Token += "\n"; return c }, want: []string{"TIPGATE_TIP_TOKEN", "copied whole"}},
		{
			name: "every problem at once",
			cfg: func() tip.Config {
				c := pfxConfig(creds, "ftp://x")
				c.Timeout = -1
				c.CAPEM = []byte("x")
				c.Username = "a:b"
				return c
			},
			want: []string{"https://", "TIPGATE_TIP_TIMEOUT", "TIPGATE_TIP_CA_FILE", "TIPGATE_TIP_USERNAME", "colon"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tip.New(tt.cfg())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("New error = %v, want none", err)
				}
				if got := tip.Timeout(c); got != tip.DefaultTimeout {
					t.Errorf("timeout = %v, want the default %v", got, tip.DefaultTimeout)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if got := errors.Is(err, tip.ErrPFXPassword); got != tt.wantPFX {
				t.Errorf("errors.Is(err, tip.ErrPFXPassword) = %v, want %v", got, tt.wantPFX)
			}
		})
	}
}

// TestTransportRenegotiatesOnce: a server that asks for the client
// certificate only for some paths does so by renegotiating, which the
// transport must accept once per connection. Go's servers cannot
// renegotiate, so the setting itself is what is checked.
func TestTransportRenegotiatesOnce(t *testing.T) {
	creds := newCreds(t)
	const base = "https://127.0.0.1:1"
	for name, cfg := range map[string]tip.Config{
		"PFX mode":   pfxConfig(creds, base),
		"token mode": tokenConfig(creds, base),
	} {
		t.Run(name, func(t *testing.T) {
			conf := tip.TLSConfig(newClient(t, cfg))
			if conf.Renegotiation != tls.RenegotiateOnceAsClient {
				t.Errorf("Renegotiation = %v, want tls.RenegotiateOnceAsClient (%v)", conf.Renegotiation, tls.RenegotiateOnceAsClient)
			}
			if conf.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion = %#x, want TLS 1.2 (%#x)", conf.MinVersion, tls.VersionTLS12)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	creds := newCreds(t)
	for _, tt := range []struct{ in, want string }{
		{"https://tip.kaspersky.com", "https://tip.kaspersky.com"},
		{"https://tip.kaspersky.com/", "https://tip.kaspersky.com"},
		{"http://127.0.0.1:8443/proxy/tip//", "http://127.0.0.1:8443/proxy/tip"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			c := newClient(t, pfxConfig(creds, tt.in))
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	creds := newCreds(b)
	body := []byte(`{"LicenseInfo":{"DayRequests":1,"DayQuota":100},"Zone":"Red","DomainGeneralInfo":{"Domain":"example.com","HitsCount":10},"DomainDnsResolutions":[` +
		strings.Repeat(`{"Ip":"104.21.0.1","Zone":"Green","HitsCount":100},`, 9) + `{"Ip":"104.21.0.2","Zone":"Green"}]}`)
	srv := newTLSServer(b, creds, tls.RequireAndVerifyClientCert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, bytes.NewReader(body))
	}))
	c := newClient(b, pfxConfig(creds, srv.URL))
	ind := indicator.Indicator{Type: indicator.URL, Value: "example.com/path?q=1"}
	sections := []string{"Zone", "LicenseInfo", "DomainGeneralInfo", "DomainDnsResolutions"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Lookup(context.Background(), ind, sections, 10); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
