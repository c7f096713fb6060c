package config

import (
	"slices"
	"testing"
)

func TestCredentialFiles(t *testing.T) {
	env := map[string]string{
		"TIPGATE_TIP_PFX_FILE":          "/run/secrets/tip.pfx",
		"TIPGATE_TIP_PFX_PASSWORD_FILE": "/run/secrets/pfx-password",
		"TIPGATE_TIP_PASSWORD_FILE":     " /run/secrets/tip-password ",
		"TIPGATE_TIP_USERNAME":          "user", // not a file
		"TIPGATE_API_KEYS_FILE":         "/run/secrets/keys.json",
		"TIPGATE_REDIS_URL_FILE":        "/run/secrets/redis", // not a credential of TIP or a key
	}
	got := Source{Getenv: func(k string) string { return env[k] }}.CredentialFiles()
	want := []File{
		{"TIPGATE_TIP_PFX_FILE", "/run/secrets/tip.pfx"},
		{"TIPGATE_TIP_PFX_PASSWORD_FILE", "/run/secrets/pfx-password"},
		{"TIPGATE_TIP_PASSWORD_FILE", "/run/secrets/tip-password"},
		{"TIPGATE_API_KEYS_FILE", "/run/secrets/keys.json"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("CredentialFiles = %v, want %v", got, want)
	}
}
