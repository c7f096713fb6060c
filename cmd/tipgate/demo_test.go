package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/logbuf"
)

// TestDemoCurlLinesWorkAsPrinted runs `tipgate demo` and then the curl lines
// it prints, read the way a shell would, as a newcomer would paste them.
func TestDemoCurlLinesWorkAsPrinted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &logbuf.Buffer{}
	done := make(chan error, 1)
	env := map[string]string{"TIPGATE_ADDR": "127.0.0.1:0"}
	go func() {
		done <- runDemo(ctx, out, func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "Press Ctrl-C"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the demo printed no instructions within 10s:\n%s", out.String())
		}
	}
	var curls [][]string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "curl ") {
			curls = append(curls, shellWords(t, strings.TrimSpace(line)))
		}
	}
	if len(curls) != 3 {
		t.Fatalf("want three curl lines, got %d:\n%s", len(curls), out.String())
	}
	var first map[string]any
	for i, args := range curls {
		body := runCurl(t, args)
		if body["received_at"] == nil || body["cache"] == nil {
			t.Fatalf("curl line %d answered %v, want received_at and cache", i+1, body)
		}
		if i == 0 {
			first = body
		}
	}
	again := runCurl(t, curls[0])
	if again["cache"] != "hit" || again["received_at"] != first["received_at"] {
		t.Fatalf("the first line again: cache %v at %v, want hit at %v", again["cache"], again["received_at"], first["received_at"])
	}
}

// shellWords splits a command line of plain words and single-quoted
// strings, the only quoting the demo prints.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted = !quoted
			inWord = true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
			}
			inWord = false
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// runCurl does what curl -s [-X M] [-H h]... [-d body] URL does.
func runCurl(t *testing.T, args []string) map[string]any {
	t.Helper()
	method, body, url := http.MethodGet, "", ""
	header := http.Header{}
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "-s":
		case "-X":
			i++
			method = args[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(args[i], ":")
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			i++
			body = args[i]
			if method == http.MethodGet {
				method = http.MethodPost
			}
		default:
			url = args[i]
		}
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%v: %d %s", args, resp.StatusCode, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: not JSON: %s", args, raw)
	}
	return m
}
