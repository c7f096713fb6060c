package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/fakeclock"
	"github.com/tipgate/tipgate/internal/tip"
)

func TestObserveOutcomesAndHealth(t *testing.T) {
	canceled := fmt.Errorf("the TIP lookup was abandoned because its caller went away: %w", context.Canceled)
	unavailable := status(tip.KindUnavailable, 503)
	tests := []struct {
		name        string
		res         *tip.Result
		err         error
		wantOutcome string
		wantSuccess bool // LastSuccess set
		wantFailure bool // LastFailure set
	}{
		{"ok", &tip.Result{Found: true}, nil, "ok", true, false},
		{"not found", &tip.Result{Found: false}, nil, "not_found", true, false},
		{"503", nil, unavailable, "tip-unavailable", false, true},
		{"401", nil, status(tip.KindUnauthorized, 401), "tip-unauthorized", false, true},
		{"timeout", nil, &tip.Error{Kind: tip.KindTimeout, Detail: "TIP did not answer within 30s", Err: context.DeadlineExceeded}, "tip-timeout", false, true},
		// The caller leaving says nothing about TIP.
		{"caller canceled", nil, canceled, "canceled", false, false},
		// Nor does the caller's bad input.
		{"400", nil, status(tip.KindBadRequest, 400), "tip-bad-request", false, false},
		{"other error", nil, errors.New("boom"), "error", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			log, _ := testLogger()
			clock := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
			inner := &fake{fn: func(context.Context, int) (*tip.Result, error) {
				clock.Advance(250 * time.Millisecond)
				return tt.res, tt.err
			}}
			ob, err := NewObserve(inner, reg, log, ObserveOptions{Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			res, err := ob.Lookup(context.Background(), testInd, nil, 10)
			if res != tt.res || !errors.Is(err, tt.err) {
				t.Fatalf("Lookup = %v, %v; want the inner answer %v, %v unchanged", res, err, tt.res, tt.err)
			}
			if got := metric(t, reg, "tipgate_tip_requests_total", "type", "domain", "outcome", tt.wantOutcome); got != 1 {
				t.Errorf("tipgate_tip_requests_total{outcome=%q} = %v, want 1", tt.wantOutcome, got)
			}
			if got := metric(t, reg, "tipgate_tip_request_duration_seconds", "type", "domain"); got != 1 {
				t.Errorf("duration samples = %v, want 1", got)
			}
			h := ob.Health()
			if got := !h.LastSuccess.IsZero(); got != tt.wantSuccess {
				t.Errorf("LastSuccess set = %v, want %v", got, tt.wantSuccess)
			}
			if got := !h.LastFailure.IsZero(); got != tt.wantFailure {
				t.Errorf("LastFailure set = %v, want %v", got, tt.wantFailure)
			}
			if tt.wantFailure && h.LastError != tt.err.Error() {
				t.Errorf("LastError = %q, want %q", h.LastError, tt.err.Error())
			}
			lint(t, reg)
		})
	}
}

func TestObserveLicense(t *testing.T) {
	reg := prometheus.NewRegistry()
	log, _ := testLogger()
	received := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	inner := &fake{fn: func(_ context.Context, call int) (*tip.Result, error) {
		if call == 2 {
			return &tip.Result{Found: true, ReceivedAt: received.Add(time.Minute)}, nil // no LicenseInfo this time
		}
		return &tip.Result{Found: true, ReceivedAt: received, License: &tip.License{DayRequests: 120, DayQuota: 2000}}, nil
	}}
	ob, err := NewObserve(inner, reg, log, ObserveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l, at := ob.License(); l != nil || !at.IsZero() {
		t.Fatalf("License before any answer = %v, %v; want nil", l, at)
	}
	for range 2 {
		if _, err := ob.Lookup(context.Background(), testInd, nil, 10); err != nil {
			t.Fatal(err)
		}
	}
	l, at := ob.License()
	if l == nil || l.DayRequests != 120 || l.DayQuota != 2000 || !at.Equal(received) {
		t.Fatalf("License = %+v at %v; want 120/2000 at %v (an answer without LicenseInfo keeps the last one)", l, at, received)
	}
	l.DayRequests = 0 // a caller's copy
	if again, _ := ob.License(); again.DayRequests != 120 {
		t.Error("changing the returned License changed Observe's")
	}
	if got := metric(t, reg, "tipgate_tip_quota_day_requests"); got != 120 {
		t.Errorf("tipgate_tip_quota_day_requests = %v, want 120", got)
	}
	if got := metric(t, reg, "tipgate_tip_quota_day_limit"); got != 2000 {
		t.Errorf("tipgate_tip_quota_day_limit = %v, want 2000", got)
	}
}

// TIP failing under load must not write a log line per request.
func TestObserveLogsStateChangesOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	log, buf := testLogger()
	down := status(tip.KindUnavailable, 503)
	// 1 ok, 10 failures, 1 ok, 1 failure
	inner := &fake{fn: func(_ context.Context, call int) (*tip.Result, error) {
		if call == 1 || call == 12 {
			return &tip.Result{Found: true}, nil
		}
		return nil, down
	}}
	ob, err := NewObserve(inner, reg, log, ObserveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 13 {
		_, _ = ob.Lookup(context.Background(), testInd, nil, 10)
	}
	if got := strings.Count(buf.String(), "TIP lookups are failing"); got != 2 {
		t.Errorf("logged %d failure lines, want 2 (one per change):\n%s", got, buf)
	}
	if got := strings.Count(buf.String(), "TIP answers again"); got != 1 {
		t.Errorf("logged %d recovery lines, want 1:\n%s", got, buf)
	}
}

func TestNewObserveRejectsDuplicateRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	log, _ := testLogger()
	if _, err := NewObserve(&fake{}, reg, log, ObserveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewObserve(&fake{}, reg, log, ObserveOptions{}); err == nil {
		t.Error("a second Observe on one registry registered its metrics again")
	}
	if _, err := NewObserve(nil, reg, log, ObserveOptions{}); err == nil {
		t.Error("NewObserve accepted a nil inner Fetcher")
	}
}
