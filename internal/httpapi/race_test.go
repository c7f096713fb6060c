//go:build race

package httpapi

// raceDetector: the race detector allocates on its own account, and
// sync.Pool drops items at random under it, so counts of allocations mean
// nothing there.
const raceDetector = true
