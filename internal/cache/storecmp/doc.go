// Package storecmp compares the memory store (internal/cache.Memory) with
// the store it replaced and with two caching libraries,
// github.com/maypok86/otter/v2 and github.com/dgraph-io/ristretto/v2, on
// what tipgate needs of it: parallel reads, writes, heap per entry and the
// collector's work at a million entries. It is a module of its own so
// that tipgate does not depend on the libraries it decided against; it has
// only benchmarks. Run from this directory:
//
//	go test -run '^$' -bench . -benchmem -count 5 . | tee cmp.txt
//	go run golang.org/x/perf/cmd/benchstat@latest cmp.txt
package storecmp
