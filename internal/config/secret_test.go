package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretRendering(t *testing.T) {
	const value = "hunter2"
	s := Secret(value)
	type holder struct{ S Secret }

	// encoding/json escapes < and >, so compare what the JSON decodes to.
	js, err := json.Marshal(holder{s})
	if err != nil {
		t.Fatal(err)
	}
	var decoded map[string]string
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatal(err)
	}
	txt, err := s.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{ReplaceAttr: noTime})).Info("x", "s", s)

	tests := []struct{ name, got, want string }{
		{"String", s.String(), "<secret>"},
		{"GoString", s.GoString(), `"<secret>"`},
		{"%v", fmt.Sprintf("%v", s), "<secret>"},
		{"%s", fmt.Sprintf("%s", s), "<secret>"},
		{"%q", fmt.Sprintf("%q", s), `"<secret>"`},
		{"%#v", fmt.Sprintf("%#v", s), `"<secret>"`},
		{"%d", fmt.Sprintf("%d", s), "%!d(string=<secret>)"},
		{"%x", fmt.Sprintf("%x", s), fmt.Sprintf("%x", "<secret>")},
		{"%10s", fmt.Sprintf("%10s", s), "  <secret>"},
		{"struct %+v", fmt.Sprintf("%+v", holder{s}), "{S:<secret>}"},
		{"struct %#v", fmt.Sprintf("%#v", holder{s}), `config.holder{S:"<secret>"}`},
		{"JSON", decoded["S"], "<secret>"},
		{"JSON has no value", fmt.Sprint(strings.Contains(string(js), value)), "false"},
		{"text", string(txt), "<secret>"},
		{"slog", logged.String(), "level=INFO msg=x s=<secret>\n"},
		{"Reveal", s.Reveal(), value},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestSecretEmpty(t *testing.T) {
	var s Secret
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"String", s.String(), ""},
		{"GoString", s.GoString(), `""`},
		{"%v", fmt.Sprintf("%v", s), ""},
		{"JSON", string(js), `""`},
		{"LogValue", s.LogValue().String(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
