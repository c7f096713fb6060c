package config

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"268435456", 256 << 20, false},
		{"64MiB", 64 << 20, false},
		{"1GiB", 1 << 30, false},
		{"1 gib", 1 << 30, false},
		{" 512MB ", 512_000_000, false},
		{"10kb", 10_000, false},
		{"3KiB", 3 << 10, false},
		{"2TB", 2_000_000_000_000, false},
		{"2TiB", 2 << 40, false},
		{"100B", 100, false},
		{"9223372036854775807", math.MaxInt64, false},
		{"9223372036854775808", 0, true},
		{"8388608TiB", 0, true},
		{"8388607TiB", 8388607 << 40, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-5", 0, true},
		{"+5", 0, true},
		{"1.5GiB", 0, true},
		{"64XB", 0, true},
		{"64 M", 0, true},
		{"1e6", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSize(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in        string
		allowZero bool
		want      time.Duration
		wantErr   bool
	}{
		{"30s", false, 30 * time.Second, false},
		{" 1h30m ", false, 90 * time.Minute, false},
		{"0", true, 0, false},
		{"0s", false, 0, true},
		{"-1s", true, 0, true},
		{"-1s", false, 0, true},
		{"30", false, 0, true},
		{"", true, 0, true},
		{"soon", false, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+strconv.FormatBool(tt.allowZero), func(t *testing.T) {
			got, err := parseDuration(tt.in, tt.allowZero)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseDuration(%q, %v) error = %v, want error %v", tt.in, tt.allowZero, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseDuration(%q, %v) = %v, want %v", tt.in, tt.allowZero, got, tt.want)
			}
		})
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "64MiB", "1 GiB", "512mb", "9223372036854775807", "8388608TiB", "-1", "", " kb", "1.5GiB", "00000000000000000000001tib"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if n != 0 {
				t.Errorf("ParseSize(%q) = %d with error %v, want 0", s, n, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Errorf("ParseSize(%q) error %q does not quote the input", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, want a count of bytes >= 0", s, n)
		}
		// A plain byte count must read back as itself.
		if back, err := ParseSize(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Errorf("ParseSize(%d) = %d, %v; want %d", n, back, err, n)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "0", "-1s", "1h30m", "30", "", "9223372036854775807ns", "1.5h"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, allowZero bool) {
		d, err := parseDuration(s, allowZero)
		if err != nil {
			if d != 0 {
				t.Errorf("parseDuration(%q) = %v with error %v, want 0", s, d, err)
			}
			return
		}
		if d < 0 || (!allowZero && d == 0) {
			t.Errorf("parseDuration(%q, %v) = %v, want it refused", s, allowZero, d)
		}
	})
}
