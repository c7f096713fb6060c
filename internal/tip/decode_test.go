package tip

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestDecodeSections(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    map[string]string
		wantErr string
	}{
		{name: "object", body: `{"Zone":"Red","A":[1,2],"B":{"x":null}}`, want: map[string]string{"Zone": `"Red"`, "A": `[1,2]`, "B": `{"x":null}`}},
		{name: "empty object", body: "\n {}\n", want: map[string]string{}},
		{name: "null section kept", body: `{"Zone":null}`, want: map[string]string{"Zone": "null"}},
		{name: "empty", body: " \n", wantErr: "empty"},
		{name: "array", body: `[{"Zone":"Red"}]`, wantErr: "not a JSON object"},
		{name: "null", body: `null`, wantErr: "not a JSON object"},
		{name: "string", body: `"Red"`, wantErr: "not a JSON object"},
		{name: "HTML", body: `<html></html>`, wantErr: "not a JSON object"},
		{name: "truncated", body: `{"Zone":"Red"`, wantErr: "not valid JSON"},
		{name: "trailing garbage", body: `{"Zone":"Red"} x`, wantErr: "not valid JSON"},
		{name: "two objects", body: `{}{}`, wantErr: "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSections([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v, want none", err)
			}
			if got == nil {
				t.Fatal("sections = nil, want a map")
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d sections, want %d", len(got), len(tt.want))
			}
			for k, v := range tt.want {
				if string(got[k]) != v {
					t.Errorf("section %s = %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

func TestDecodeLicense(t *testing.T) {
	exp := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		raw  string
		want *License
	}{
		{name: "full", raw: `{"AccessType":"Commercial","DayRequests":12,"DayQuota":10000,"TokenExpirationDate":"2027-01-31T00:00:00Z"}`,
			want: &License{AccessType: "Commercial", DayRequests: 12, DayQuota: 10000, TokenExpirationDate: &exp}},
		{name: "nulls", raw: `{"AccessType":null,"DayRequests":null,"DayQuota":null,"TokenExpirationDate":null}`, want: &License{}},
		{name: "absent fields", raw: `{}`, want: &License{}},
		{name: "numbers as strings", raw: `{"DayRequests":"5","DayQuota":"100.0"}`, want: &License{DayRequests: 5, DayQuota: 100}},
		{name: "float numbers", raw: `{"DayRequests":5.0,"DayQuota":1e4}`, want: &License{DayRequests: 5, DayQuota: 10000}},
		{name: "date without zone", raw: `{"TokenExpirationDate":"2027-01-31T00:00:00"}`, want: &License{TokenExpirationDate: &exp}},
		{name: "date with minutes", raw: `{"TokenExpirationDate":"2027-01-31T00:00Z"}`, want: &License{TokenExpirationDate: &exp}},
		{name: "date only", raw: `{"TokenExpirationDate":"2027-01-31"}`, want: &License{TokenExpirationDate: &exp}},
		{name: "odd shapes skipped", raw: `{"AccessType":5,"DayRequests":{},"DayQuota":[1],"TokenExpirationDate":"soon"}`, want: &License{}},
		{name: "huge number", raw: `{"DayRequests":1e300}`, want: &License{}},
		{name: "null section", raw: `null`},
		{name: "not an object", raw: `[1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeLicense(json.RawMessage(tt.raw))
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("decodeLicense = %+v, want %+v", got, tt.want)
			}
			if got == nil {
				return
			}
			if got.AccessType != tt.want.AccessType || got.DayRequests != tt.want.DayRequests || got.DayQuota != tt.want.DayQuota {
				t.Errorf("decodeLicense = %+v, want %+v", got, tt.want)
			}
			switch {
			case (got.TokenExpirationDate == nil) != (tt.want.TokenExpirationDate == nil):
				t.Errorf("TokenExpirationDate = %v, want %v", got.TokenExpirationDate, tt.want.TokenExpirationDate)
			case got.TokenExpirationDate != nil && !got.TokenExpirationDate.Equal(*tt.want.TokenExpirationDate):
				t.Errorf("TokenExpirationDate = %v, want %v", *got.TokenExpirationDate, *tt.want.TokenExpirationDate)
			}
		})
	}
}

func TestErrorReason(t *testing.T) {
	long := strings.Repeat("word ", 200)
	tests := []struct {
		name        string
		contentType string
		body        string
		want        string
	}{
		{name: "empty", body: "  \n", want: ""},
		{name: "JSON message", contentType: "application/json", body: `{"status":400,"message":"Invalid hash"}`, want: "Invalid hash"},
		{name: "JSON key case ignored", body: `{"Message":"Invalid hash"}`, want: "Invalid hash"},
		{name: "JSON nested error", body: `{"error":{"code":7,"message":"quota exceeded"}}`, want: "quota exceeded"},
		{name: "JSON error string", body: `{"error":"invalid_token","error_description":"The token expired"}`, want: "The token expired"},
		{name: "JSON status_msg", body: `{"status":"error","status_msg":"wrong request"}`, want: "wrong request"},
		{name: "JSON errors list", body: `{"errors":[{"message":"a"},{"message":"b"}]}`, want: "a; b"},
		{name: "JSON string", contentType: "application/json", body: `"just a string"`, want: "just a string"},
		{name: "JSON without a known key", body: `{"code": 400, "x": "y"}`, want: `{"code": 400, "x": "y"}`},
		{name: "JSON content type but not JSON", contentType: "application/json", body: "upstream\tfailed", want: "upstream failed"},
		{name: "plain text", contentType: "text/plain", body: "No search result.\r\n  Please check your request\n", want: "No search result. Please check your request"},
		{name: "nginx page", contentType: "text/html", body: "<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>", want: "414 Request-URI Too Large nginx"},
		{name: "HTML script and comments dropped", body: "<!DOCTYPE html><html><script>var x = '<b>';</script><!-- hidden --><p>Visible &lt;text&gt;</p></html>", want: "Visible <text>"},
		{name: "HTML with only a title", body: "<html><head><title>Bad &amp; Wrong</title></head><body></body></html>", want: "Bad & Wrong"},
		{name: "control characters", body: "bad\x00\x1b[31mred\u2028line", want: "bad [31mred line"},
		{name: "invalid UTF-8", body: "bad \xff\xfe byte", want: "bad \uFFFD byte"},
		{name: "truncated", body: long, want: strings.TrimSpace(long[:maxReasonRunes]) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorReason(tt.contentType, []byte(tt.body)); got != tt.want {
				t.Errorf("errorReason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"99999999999999999999", 0},
		{"9999999999", 7 * 24 * time.Hour},
		{"Mon, 23 Nov 2026 14:01:30 GMT", 90 * time.Second},
		{"Mon, 23 Nov 2026 13:00:00 GMT", 0},
		{"Wed, 23 Nov 2050 13:00:00 GMT", 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := parseRetryAfter(tt.in, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzDecodeSections(f *testing.F) {
	for _, seed := range []string{
		`{"Zone":"Red","LicenseInfo":{"DayRequests":1,"DayQuota":2,"TokenExpirationDate":null}}`,
		`{"LicenseInfo":{"DayRequests":"1e3","TokenExpirationDate":"2027-01-31T00:00Z"}}`,
		`{"LicenseInfo":null}`, `{}`, `[]`, `null`, ``, `{"a":`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sections, err := decodeSections(body)
		if err != nil {
			if sections != nil {
				t.Fatalf("sections = %v with error %v, want nil", sections, err)
			}
			return
		}
		if sections == nil {
			t.Fatal("sections = nil without an error")
		}
		for name, raw := range sections {
			if !json.Valid(raw) {
				t.Fatalf("section %q is not valid JSON: %q", name, raw)
			}
		}
		if raw, ok := sections[SectionLicense]; ok {
			_ = decodeLicense(raw)
		}
	})
}

func FuzzErrorReason(f *testing.F) {
	f.Add("application/json", []byte(`{"error":{"message":"quota"}}`))
	f.Add("text/html", []byte("<html><head><title>t</title></head><body><p>x &amp; y</p></body></html>"))
	f.Add("", []byte("plain\r\ntext\x00"))
	f.Add("application/json", []byte(`[[[[[[{"message":"deep"}]]]]]]`))
	f.Add("text/html", []byte("<script>"+strings.Repeat("a", 400)))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		got := errorReason(contentType, body)
		if !utf8.ValidString(got) {
			t.Fatalf("reason %q is not valid UTF-8", got)
		}
		if n := utf8.RuneCountInString(got); n > maxReasonRunes+1 {
			t.Fatalf("reason has %d runes, want at most %d", n, maxReasonRunes+1)
		}
		if got != strings.TrimSpace(got) || strings.Contains(got, "  ") {
			t.Fatalf("reason %q has untrimmed or repeated spaces", got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || (unicode.IsSpace(r) && r != ' ') {
				t.Fatalf("reason %q contains control or space character %U", got, r)
			}
		}
	})
}
