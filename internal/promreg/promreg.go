// Package promreg owns how tipgate's components register their Prometheus
// collectors with the registry they are given: all of a component's
// collectors or none, and, for components built more than once on one
// registry, sharing the collectors already there.
package promreg

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// All registers every collector with reg, or none: on a failure it
// unregisters those it did register, so that a constructor that fails
// leaves the registry as it found it. A nil reg registers nothing, for
// tests and tools that export no metrics.
func All(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// Shared registers c, or returns the collector of the same description
// already registered, so that a component built a second time on one
// registry (a test, a reload) shares the series instead of failing.
func Shared[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}
