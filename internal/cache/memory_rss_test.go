//go:build !race

package cache_test

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
)

// rssChildEnv marks the subprocess TestMemoryRSS measures, so that what the
// rest of the test binary allocated does not count.
const rssChildEnv = "TIPGATE_TEST_RSS_CHILD"

// TestMemoryRSS checks the process holds the memory store's bound: a full
// 256 MiB store of ~4 KB answers, churned with new answers and reads, under
// the Go memory limit tipgate sets, keeps its resident set within 1.25× the
// bound + 40 MB, at its peak. It runs in a process of its own, so that the
// rest of the tests' memory does not count, and without the race detector,
// which inflates memory (make test runs it on its own).
func TestMemoryRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 256 MiB")
	}
	if os.Getenv(rssChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryRSS$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), rssChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("subprocess:\n%s", out)
		if err != nil {
			t.Fatalf("subprocess: %v", err)
		}
		return
	}

	const bound = 256 << 20
	// As cmd/tipgate serve does (app.LimitMemory).
	limit := cache.GoMemoryLimit(bound)
	debug.SetMemoryLimit(limit)
	m := cache.NewMemory(bound)
	defer m.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	value := make([]byte, 4608)
	for i := range value {
		value[i] = byte(rng.Uint32())
	}
	key := func(i int) string {
		return "tipgate:v2:1a2b3c4d:{domain:host" + strconv.Itoa(i) + ".example.com}:DomainGeneralInfo"
	}
	next := 0
	set := func() {
		// Answers of 3.5 to 4.5 KB, spread over Go's size classes.
		n := 3584 + rng.IntN(1024)
		if err := m.Set(ctx, []cache.Item{{Key: key(next), Value: value[:n], TTL: time.Hour}}); err != nil {
			t.Fatal(err)
		}
		next++
	}
	// Fill until the store evicts, then as much again.
	for peak := 0; m.Len() >= peak; {
		peak = m.Len()
		set()
	}
	for range next {
		set()
	}
	full := m.Len()
	// Churn as a busy gateway would: hits, each writing its answer into
	// a response of its own (the garbage that makes the collector run),
	// and a miss stored every tenth.
	keys := make([]string, 1)
	var hits, written int
	cpuBefore := cpuTime()
	start := time.Now()
	for time.Since(start) < 1500*time.Millisecond {
		set()
		for range 9 {
			keys[0] = key(next - 1 - rng.IntN(full))
			vals, err := m.Get(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			body := make([]byte, 0, len(vals[0])+256)
			body = append(body, `{"indicator":"host.example.com","sections":`...)
			body = append(body, vals[0]...)
			written += len(body)
			hits++
		}
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpuBefore
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, hwm := procStatus(t, "VmRSS"), procStatus(t, "VmHWM")
	want := int64(bound*1.25) + 40e6
	t.Logf("bound %d MiB, %d entries charged %d MiB; memory limit %d MiB; %.0f hits/s (%d MB of responses), %.1f µs of CPU per hit; HeapAlloc %d MiB, HeapInuse %d MiB, Sys %d MiB, NumGC %d; VmRSS %d MB (%.2f× bound), VmHWM %d MB; want RSS at most %d MB",
		bound>>20, m.Len(), m.Bytes()>>20, limit>>20, float64(hits)/elapsed.Seconds(), written/1e6, cpu.Seconds()*1e6/float64(hits), ms.HeapAlloc>>20, ms.HeapInuse>>20, ms.Sys>>20, ms.NumGC, rss/1e6, float64(rss)/bound, hwm/1e6, want/1e6)
	// The peak, not only the last reading: filling must not overshoot
	// either.
	if hwm > want {
		t.Errorf("VmHWM %d MB, want at most 1.25× the %d MiB bound + 40 MB = %d MB", hwm/1e6, bound>>20, want/1e6)
	}
}

// cpuTime is the CPU time the process has used, the collector's included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads a memory figure in bytes from /proc/self/status.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		return kb << 10
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
