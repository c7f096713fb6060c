package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/promreg"
)

// Setter is what a Writer writes to: a store, in practice a Guard.
type Setter interface {
	Set(ctx context.Context, items []Item) error
}

// Defaults of WriterOptions.
const (
	DefaultWriteQueue   = 1024
	DefaultWriteWorkers = 2
	DefaultWriteTimeout = time.Second
)

// writeErrorLogEvery spaces the log lines of failed writes: a store that
// fails fails every write, and one line a second says so as well as a
// thousand.
const writeErrorLogEvery = time.Second

// WriterOptions configures NewWriter. Zero values mean the defaults.
type WriterOptions struct {
	// Queue is how many writes may wait for a worker.
	Queue int
	// Workers is how many writes run at once.
	Workers int
	// Timeout bounds each write.
	Timeout time.Duration
	// Logger receives failed writes, at most about one line a second. Nil
	// discards.
	Logger *slog.Logger
	// Registerer receives the Writer's metrics. Nil registers nothing.
	Registerer prometheus.Registerer
}

// Writer writes behind: a lookup hands it what TIP answered and replies to
// its caller at once, instead of waiting on the store's write deadline.
//
// Its memory is bounded: when the queue is full, Write writes in the
// caller, which then waits as it would without a Writer. That slows the
// callers producing writes faster than the store takes them rather than
// dropping their answers or growing without end.
type Writer struct {
	setter  Setter
	timeout time.Duration
	log     *slog.Logger

	errs       prometheus.Counter
	syncWrites prometheus.Counter
	queueLen   prometheus.GaugeFunc

	// mu keeps Close from closing queue under a Write sending to it.
	mu     sync.RWMutex
	closed bool
	queue  chan queuedWrite

	// workCtx carries the workers' writes; Close cancels it when its own
	// context ends, so that a draining that takes too long is cut short.
	workCtx    context.Context
	cancelWork context.CancelFunc
	running    atomic.Int32  // workers not yet returned
	drained    chan struct{} // closed by the last worker to return
	dropped    atomic.Int64  // queued writes abandoned by a Close that gave up

	lastLog    atomic.Int64 // UnixNano of the last error line
	suppressed atomic.Int64 // errors not logged since then

	// pending holds the values of writes not yet finished, so that this
	// process reads its own answers before the store has them: without
	// it, a lookup right after a miss would miss again and ask TIP twice.
	pmu     sync.Mutex
	pending map[string]pendingValue
	seq     uint64
	// held is len(pending), readable without pmu: a hit, when nothing is
	// being written, does not queue on the lock every write takes.
	held atomic.Int64
}

type pendingValue struct {
	value []byte
	seq   uint64 // tells a later write of the same key from this one
}

type queuedWrite struct {
	items []Item
	done  func()
	seq   uint64
}

// NewWriter starts o.Workers workers writing to setter.
func NewWriter(setter Setter, o WriterOptions) (*Writer, error) {
	if setter == nil {
		return nil, errors.New("cache: NewWriter needs a setter")
	}
	if o.Queue <= 0 {
		o.Queue = DefaultWriteQueue
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWriteWorkers
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultWriteTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w := &Writer{
		setter:  setter,
		timeout: o.Timeout,
		log:     o.Logger,
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipgate_cache_write_behind_errors_total",
			Help: "Cache writes that failed or were dropped at shutdown; the answers were served all the same.",
		}),
		syncWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipgate_cache_write_behind_sync_total",
			Help: "Cache writes made in the caller because the write-behind queue was full or closed.",
		}),
		queue:   make(chan queuedWrite, o.Queue),
		drained: make(chan struct{}),
		pending: map[string]pendingValue{},
	}
	w.queueLen = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tipgate_cache_write_behind_queue",
		Help: "Cache writes waiting for a write-behind worker.",
	}, func() float64 { return float64(len(w.queue)) })
	if err := promreg.All(o.Registerer, w.errs, w.syncWrites, w.queueLen); err != nil {
		return nil, err
	}
	w.workCtx, w.cancelWork = context.WithCancel(context.Background())
	w.running.Store(int32(o.Workers))
	for range o.Workers {
		go w.work()
	}
	return w, nil
}

// Write stores items behind the caller's back, then calls done (when not
// nil) whether the write succeeded or not; done must not block, as it runs
// on a worker. The caller must not modify items afterwards. When the queue
// is full, or after Close, Write writes in the caller and returns after
// done.
func (w *Writer) Write(items []Item, done func()) {
	job := queuedWrite{items: items, done: done, seq: w.hold(items)}
	w.mu.RLock()
	if !w.closed {
		select {
		case w.queue <- job:
			w.mu.RUnlock()
			return
		default:
		}
	}
	w.mu.RUnlock()
	w.syncWrites.Inc()
	w.write(context.Background(), job)
}

// Close stops queueing (later Writes write in the caller) and waits for
// the queued writes to finish. When ctx ends first it cancels the writes in
// flight, drops those still queued (calling their done), waits for the
// workers to return and says how many it dropped. No worker outlives
// Close. Closing again waits the same way.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()

	// A drained queue wins over an ended ctx: there is nothing to give up.
	select {
	case <-w.drained:
		w.cancelWork()
		return nil
	default:
	}
	select {
	case <-w.drained:
		w.cancelWork()
		return nil
	case <-ctx.Done():
	}
	w.cancelWork()
	<-w.drained
	n := w.dropped.Load()
	w.log.Warn("cache write behind: shutdown gave up waiting for the queued writes", "dropped", n, "err", ctx.Err())
	return fmt.Errorf("cache: write behind: gave up draining (writes in flight canceled, %d queued writes dropped): %w", n, ctx.Err())
}

func (w *Writer) work() {
	defer func() {
		if w.running.Add(-1) == 0 {
			close(w.drained)
		}
	}()
	for job := range w.queue {
		if w.workCtx.Err() != nil {
			// Close gave up waiting: empty the queue without writing.
			w.dropped.Add(1)
			w.errs.Inc()
			w.release(job)
			if job.done != nil {
				job.done()
			}
			continue
		}
		w.write(w.workCtx, job)
	}
}

func (w *Writer) write(parent context.Context, job queuedWrite) {
	ctx, cancel := context.WithTimeout(parent, w.timeout)
	err := w.setter.Set(ctx, job.items)
	cancel()
	if err != nil {
		w.failed(err)
	}
	w.release(job)
	if job.done != nil {
		job.done()
	}
}

// hold makes items readable through Pending until their write is over.
func (w *Writer) hold(items []Item) uint64 {
	w.pmu.Lock()
	defer w.pmu.Unlock()
	w.seq++
	for _, it := range items {
		w.pending[it.Key] = pendingValue{value: it.Value, seq: w.seq}
	}
	w.held.Store(int64(len(w.pending)))
	return w.seq
}

// release forgets a finished write's values, unless a later write of the
// same key holds it now.
func (w *Writer) release(job queuedWrite) {
	w.pmu.Lock()
	defer w.pmu.Unlock()
	for _, it := range job.items {
		if p, ok := w.pending[it.Key]; ok && p.seq == job.seq {
			delete(w.pending, it.Key)
		}
	}
	w.held.Store(int64(len(w.pending)))
}

// Pending fills in vals[i], for each keys[i] whose write has not finished,
// with the value being written (newer than anything the store holds).
// vals must have one element per key.
func (w *Writer) Pending(keys []string, vals [][]byte) {
	if w.held.Load() == 0 {
		return
	}
	w.pmu.Lock()
	defer w.pmu.Unlock()
	if len(w.pending) == 0 {
		return
	}
	for i, k := range keys {
		if p, ok := w.pending[k]; ok {
			vals[i] = p.value
		}
	}
}

// failed counts every failed write and logs the first of each second,
// saying how many it left out since the last line.
func (w *Writer) failed(err error) {
	w.errs.Inc()
	now := time.Now().UnixNano()
	last := w.lastLog.Load()
	if now-last < int64(writeErrorLogEvery) || !w.lastLog.CompareAndSwap(last, now) {
		w.suppressed.Add(1)
		return
	}
	w.log.Warn("cache write failed; the answer was served all the same", "err", err, "failed_since_last_line", w.suppressed.Swap(0))
}
