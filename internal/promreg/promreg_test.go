package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func counter(name string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: name})
}

func TestAllIsAllOrNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(counter("taken")); err != nil {
		t.Fatal(err)
	}
	a := counter("a")
	if err := All(reg, a, counter("taken")); err == nil {
		t.Fatal("All registered a duplicate")
	}
	// a was rolled back: registering it again succeeds.
	if err := reg.Register(a); err != nil {
		t.Fatalf("a left registered after All failed: %v", err)
	}
	if err := All(nil, counter("x")); err != nil {
		t.Fatalf("All(nil) = %v, want nil", err)
	}
}

func TestSharedReturnsTheRegisteredCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := Shared(reg, counter("c"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Shared(reg, counter("c"))
	if err != nil || second != first {
		t.Fatalf("Shared a second time = %v, %v; want the first collector", second, err)
	}
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "c", Help: "other help"})
	if _, err := Shared(reg, other); err == nil {
		t.Fatal("Shared accepted a different collector under a taken name")
	}
}
