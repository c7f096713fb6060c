package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/tipsim"
)

// TestStartupFailuresNameTheVariable runs the command as an operator would,
// with a broken configuration, and checks it stops with a sentence naming
// the variable to fix and without echoing any secret.
func TestStartupFailuresNameTheVariable(t *testing.T) {
	creds, err := tipsim.NewCredentials(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := creds.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	goodKeys := filepath.Join(dir, "keys.json")
	writeKeys(t, goodKeys, "siem", strings.Repeat("ab", 32))
	badKeys := filepath.Join(dir, "bad-keys.json")
	os.WriteFile(badKeys, []byte(`{"keys": [`), 0o600)

	base := map[string]string{
		"TIPGATE_ADDR":             "127.0.0.1:0",
		"TIPGATE_TIP_URL":          "https://127.0.0.1:1",
		"TIPGATE_TIP_CA_FILE":      files.CA,
		"TIPGATE_TIP_PFX_FILE":     files.ClientPFX,
		"TIPGATE_TIP_PFX_PASSWORD": creds.PFXPassword,
		"TIPGATE_TIP_USERNAME":     creds.Username,
		"TIPGATE_TIP_PASSWORD":     creds.Password,
		"TIPGATE_API_KEYS_FILE":    goodKeys,
	}
	tests := []struct {
		name    string
		change  map[string]string
		args    []string
		want    int
		wantOut []string // in stderr
	}{
		{name: "valid", args: []string{"check-config"}, want: 0},
		// A bare binary serves: it reads the configuration as serve does.
		{name: "no command", args: []string{}, change: map[string]string{"TIPGATE_CACHE_TTL": "forever"}, want: 1,
			wantOut: []string{"TIPGATE_CACHE_TTL"}},
		{name: "wrong PFX password", change: map[string]string{"TIPGATE_TIP_PFX_PASSWORD": "wrong-password-123"}, want: 1,
			wantOut: []string{"TIPGATE_TIP_PFX_PASSWORD", "does not open the PFX file"}},
		{name: "missing PFX file", change: map[string]string{"TIPGATE_TIP_PFX_FILE": filepath.Join(dir, "nope.pfx")}, want: 1,
			wantOut: []string{"TIPGATE_TIP_PFX_FILE", "no such file"}},
		{name: "missing keys file", change: map[string]string{"TIPGATE_API_KEYS_FILE": filepath.Join(dir, "nope.json")}, want: 1,
			wantOut: []string{"TIPGATE_API_KEYS_FILE", "no such file"}},
		{name: "unreadable keys file", change: map[string]string{"TIPGATE_API_KEYS_FILE": badKeys}, want: 1,
			wantOut: []string{"TIPGATE_API_KEYS_FILE"}},
		{name: "no TIP credentials", change: map[string]string{"TIPGATE_TIP_PFX_FILE": "", "TIPGATE_TIP_PFX_PASSWORD": "", "TIPGATE_TIP_USERNAME": "", "TIPGATE_TIP_PASSWORD": ""}, want: 1,
			wantOut: []string{"TIPGATE_TIP_PFX_FILE", "TIPGATE_TIP_TOKEN"}},
		{name: "several problems at once", change: map[string]string{"TIPGATE_CACHE_TTL": "forever", "TIPGATE_DEFAULT_LIMIT": "0"}, want: 1,
			wantOut: []string{"TIPGATE_CACHE_TTL", "TIPGATE_DEFAULT_LIMIT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range base {
				t.Setenv(k, v)
			}
			for k, v := range tt.change {
				t.Setenv(k, v)
			}
			args := tt.args
			if args == nil {
				args = []string{"check-config"}
			}
			if tt.name == "unreadable keys file" {
				// The keys file is parsed when the app is wired, so serve it.
				args = []string{"serve"}
			}
			var stdout, stderr bytes.Buffer
			if got := run(args, &stdout, &stderr); got != tt.want {
				t.Fatalf("exit code = %d, want %d; stderr:\n%s", got, tt.want, stderr.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			for _, secret := range []string{creds.Password, creds.PFXPassword, "wrong-password-123"} {
				if strings.Contains(stderr.String()+stdout.String(), secret) {
					t.Errorf("output contains a secret:\n%s", stderr.String())
				}
			}
		})
	}
}

func TestHashKey(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"hash-key", "tg_example"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	const want = "849bcdf2697a91c638e19b84148f16dfc88df7d48e384922ea779360f0837bc4" // sha256sum of "tg_example"
	if got := strings.TrimSpace(stdout.String()); got != want {
		t.Fatalf("hash-key printed %q, want %q", got, want)
	}
}
