package tip_test

import (
	"errors"
	"testing"

	"github.com/tipgate/tipgate/internal/tip"
)

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		err           *tip.Error
		wantTransient bool
	}{
		{&tip.Error{Kind: tip.KindBadRequest}, false},
		{&tip.Error{Kind: tip.KindUnauthorized}, false},
		{&tip.Error{Kind: tip.KindForbidden}, false},
		{&tip.Error{Kind: tip.KindRateLimited}, true},
		{&tip.Error{Kind: tip.KindUnavailable}, true},
		{&tip.Error{Kind: tip.KindTimeout}, true},
		// The budget renews at midnight: asking again sooner cannot help.
		{&tip.Error{Kind: tip.KindBudgetSpent, Refused: true}, false},
		// Breaker open: later may succeed, so the kind stays transient;
		// Refused is what tells layers not to retry it now.
		{&tip.Error{Kind: tip.KindUnavailable, Refused: true}, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.err.Kind), func(t *testing.T) {
			if got := tt.err.Transient(); got != tt.wantTransient {
				t.Errorf("Transient() = %v, want %v", got, tt.wantTransient)
			}
		})
	}
	if tip.KindBudgetSpent != "tip-budget-spent" {
		t.Errorf("KindBudgetSpent = %q, want tip-budget-spent (the problem type callers see)", tip.KindBudgetSpent)
	}
}

func TestRefusedErrorUnwraps(t *testing.T) {
	cause := errors.New("cause")
	var err error = &tip.Error{Kind: tip.KindBudgetSpent, Refused: true, Detail: "the budget is spent", Err: cause}
	var te *tip.Error
	if !errors.As(err, &te) || !te.Refused || te.Kind != tip.KindBudgetSpent {
		t.Fatalf("errors.As = %+v, want a Refused budget error", te)
	}
	if !errors.Is(err, cause) {
		t.Error("a Refused error does not unwrap to its cause")
	}
	if got, want := err.Error(), "tip: the budget is spent"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
