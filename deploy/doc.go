// Package deploy holds no product code: it is the home of the tests that keep
// tipgate's deployment artifacts usable as they stand. The Kubernetes base in
// kubernetes/ must decode strictly into the API's own types, build with
// kustomize, and give tipgate an environment its configuration accepts; the
// Prometheus rules in prometheus/ and the Grafana dashboard in grafana/ may
// only name metrics tipgate exports.
//
// It is a module of its own so that the Kubernetes, kustomize and Prometheus
// modules these tests need never enter the product's go.mod.
package deploy
