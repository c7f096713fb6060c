package kuma

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/promreg"
)

// The result label of tipgate_kuma_objects_total: one per element of a
// request, duplicates included.
const (
	objDetected     = "detected"
	objNotDetected  = "not_detected"  // a lookup answered: Green, Grey or not found
	objNotIndicator = "not_indicator" // free text, answered without a lookup
	objUnanswered   = "unanswered"    // see tipgate_kuma_unanswered_total
)

// The reason label of tipgate_kuma_unanswered_total.
const (
	reasonBudgetSpent = "budget-spent" // tipgate's daily TIP budget, or TIP's quota, is spent
	reasonBreakerOpen = "breaker-open" // TIP has been failing; tipgate is not asking it for a while
	reasonTimeout     = "timeout"      // the request's deadline passed first
	reasonTIPRejected = "tip-rejected" // TIP answered 400 for the indicator
	reasonTIPError    = "tip-error"    // any other failure of TIP
	reasonNotCached   = "not-cached"   // cache-only mode, nothing cached
	reasonCanceled    = "canceled"     // the caller went away
	reasonInternal    = "internal"     // tipgate's own fault
)

type metrics struct {
	requests   *prometheus.CounterVec
	objects    *prometheus.CounterVec
	unanswered *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests, err := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipgate_kuma_requests_total",
		Help: "Requests to the KUMA (CyberTrace) lookup paths, by HTTP status code.",
	}, []string{"status"}))
	if err != nil {
		return nil, err
	}
	objects, err := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipgate_kuma_objects_total",
		Help: "Objects in KUMA lookup requests, by outcome (detected, not_detected, not_indicator, unanswered).",
	}, []string{"result"}))
	if err != nil {
		return nil, err
	}
	unanswered, err := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipgate_kuma_unanswered_total",
		Help: "Objects of KUMA lookups answered \"not detected\" because neither the cache nor TIP could answer, by reason.",
	}, []string{"reason"}))
	if err != nil {
		return nil, err
	}
	return &metrics{requests: requests, objects: objects, unanswered: unanswered}, nil
}
