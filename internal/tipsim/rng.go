package tipsim

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"time"
)

// rng is a tiny deterministic generator (SplitMix64) seeded from a hash of
// its parts. It is written out rather than taken from math/rand so that the
// simulator's data can never change under a Go upgrade.
type rng struct{ s uint64 }

func newRNG(parts ...string) *rng {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return &rng{s: binary.LittleEndian.Uint64(h[:8])}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); n must be positive.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// chance is true with probability percent/100.
func (r *rng) chance(percent int) bool { return r.intn(100) < percent }

func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

func weighted[T any](r *rng, xs []T, weights []int) T {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.intn(total)
	for i, w := range weights {
		if n < w {
			return xs[i]
		}
		n -= w
	}
	return xs[len(xs)-1]
}

// hexUpper returns n random bytes as upper-case hex, the way TIP writes hashes.
func (r *rng) hexUpper(n int) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 2*n)
	for i := range b {
		b[i] = digits[r.intn(16)]
	}
	return string(b)
}

// timeIn returns a time in [from, to), to the millisecond.
func (r *rng) timeIn(from, to time.Time) time.Time {
	span := to.Sub(from).Milliseconds()
	if span <= 0 {
		return from
	}
	return from.Add(time.Duration(r.next()%uint64(span)) * time.Millisecond).UTC()
}
