package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// sizeUnit returns how many bytes one unit is, for a lower-case unit.
// Decimal and binary units are both accepted because operators write both,
// and each means what the IEC says it means.
func sizeUnit(u string) (int64, bool) {
	switch u {
	case "", "b":
		return 1, true
	case "kb":
		return 1000, true
	case "mb":
		return 1000 * 1000, true
	case "gb":
		return 1000 * 1000 * 1000, true
	case "tb":
		return 1000 * 1000 * 1000 * 1000, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

// ParseSize reads a byte count: a whole number, optionally followed by a unit
// (B, KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of 1024;
// case-insensitive, spaces allowed around the unit). "64MiB", "1 GiB",
// "512MB" and "268435456" are all sizes. The result is never negative.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size; write a whole number of bytes, optionally with a unit such as 64MiB, 1GiB or 512MB", s)
	}
	mult, ok := sizeUnit(strings.ToLower(strings.TrimSpace(t[i:])))
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB", s)
	}
	var n int64
	for _, c := range t[:i] {
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		n = n*10 + d
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// parseDuration reads a Go duration ("30s", "1h30m") that must be positive,
// or, with allowZero, not negative. Bare numbers are refused rather than
// guessed at: "30" could mean seconds or nanoseconds.
func parseDuration(s string, allowZero bool) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; write a number with a unit, such as 30s, 5m or 24h", s)
	}
	switch {
	case allowZero && d < 0:
		return 0, fmt.Errorf("%q is negative; it must be zero or more", s)
	case !allowZero && d <= 0:
		return 0, fmt.Errorf("%q must be more than zero", s)
	}
	return d, nil
}
