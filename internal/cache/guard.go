package cache

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tipgate/tipgate/internal/promreg"
)

// Backend is the store a Guard protects: the contract of cache.go, which
// Redis and Memory implement. Guard implements it too, so a guarded store
// goes wherever a store does.
type Backend interface {
	Get(ctx context.Context, keys []string) ([][]byte, error)
	Set(ctx context.Context, items []Item) error
	Delete(ctx context.Context, keys []string) error
	Ping(ctx context.Context) error
	Name() string
	Close() error
}

// ErrUnavailable is returned by a Guard whose store is down. No I/O was
// attempted; a Hot in front of the Guard answers from the process instead.
var ErrUnavailable = errors.New("cache: store is unreachable; not asking it again until a background probe succeeds")

// Defaults of GuardOptions.
const (
	DefaultProbeInterval = 200 * time.Millisecond
	DefaultProbeTimeout  = 250 * time.Millisecond
)

// GuardOptions configures NewGuard. Zero values mean the defaults.
type GuardOptions struct {
	// ProbeInterval is the pause before each background Ping while the store
	// is down.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one background Ping.
	ProbeTimeout time.Duration
	// Logger receives one line per change of state. Nil discards.
	Logger *slog.Logger
	// Registerer receives the Guard's metrics. Nil registers nothing.
	Registerer prometheus.Registerer
}

// Guard makes a store fail fast. The first call that fails for want of the
// store (an I/O error or a deadline, not a reply the server sent nor the
// caller's own cancellation) marks it down; from then on no call touches the
// store: Get, Set, Delete and Ping return ErrUnavailable at in-process
// speed, and a Hot in front answers from the process. A background prober
// Pings the store and marks it up again when it answers. A hung Redis so costs one
// read deadline once per outage instead of once per lookup, and a dead one
// costs nothing per lookup.
//
// A Guard starts up without asking the store: the first failed call
// detects an outage present at start-up.
type Guard struct {
	backend  Backend
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger

	upGauge prometheus.Gauge
	changes prometheus.Counter

	// state counts changes of state: even is up, odd is down. A call
	// remembers the state it started in and may only mark that one down, so
	// that a call that began before the store came back (a read stuck on a
	// frozen Redis) cannot start a new outage when it finally fails.
	state  atomic.Uint64
	downAt atomic.Int64 // UnixNano of the last transition to down
	onUp   atomic.Pointer[func()]

	closed     atomic.Bool
	wake       chan struct{} // buffered (1): the store went down, probe it
	stopCtx    context.Context
	stop       context.CancelFunc
	proberDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// NewGuard wraps backend, which the Guard then owns: Close closes it. It
// starts the prober, which sleeps until the store goes down.
func NewGuard(backend Backend, o GuardOptions) (*Guard, error) {
	if backend == nil {
		return nil, errors.New("cache: NewGuard needs a backend")
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g := &Guard{
		backend:  backend,
		interval: o.ProbeInterval,
		timeout:  o.ProbeTimeout,
		log:      o.Logger,
		upGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipgate_cache_store_up",
			Help: "1 while the cache store answers, 0 while it is unreachable and lookups use the in-process fallback.",
		}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipgate_cache_store_state_changes_total",
			Help: "Times the cache store was found unreachable or back.",
		}),
		wake:       make(chan struct{}, 1),
		proberDone: make(chan struct{}),
	}
	if err := promreg.All(o.Registerer, g.upGauge, g.changes); err != nil {
		return nil, err
	}
	g.upGauge.Set(1)
	g.stopCtx, g.stop = context.WithCancel(context.Background())
	go g.probe()
	return g, nil
}

// Name reports the backend's name: the Guard is transparent to status and
// metrics.
func (g *Guard) Name() string { return g.backend.Name() }

// Healthy reports whether calls go to the store (true) or, since a call
// failed and no probe has succeeded yet, fail fast (false).
func (g *Guard) Healthy() bool { return isUp(g.state.Load()) }

// OnUp has fn called each time a probe finds the store back after an
// outage, on the prober's goroutine, once calls go to the store again. A
// Hot in front registers itself: what it kept in the process during the
// outage must not shadow what other replicas wrote to the store meanwhile.
// A later call replaces fn.
func (g *Guard) OnUp(fn func()) { g.onUp.Store(&fn) }

// Get reads from the store; ErrUnavailable while it is down.
func (g *Guard) Get(ctx context.Context, keys []string) ([][]byte, error) {
	if err := g.usable(ctx); err != nil {
		return nil, err
	}
	st := g.state.Load()
	if !isUp(st) {
		return nil, ErrUnavailable
	}
	vals, err := g.backend.Get(ctx, keys)
	g.observe(ctx, st, err)
	return vals, err
}

// GetTTL is Get with each entry's remaining lifetime, when the store can
// tell it in the same round trip (Redis); otherwise ttls is nil.
func (g *Guard) GetTTL(ctx context.Context, keys []string) ([][]byte, []time.Duration, error) {
	tg, ok := g.backend.(ttlGetter)
	if !ok {
		vals, err := g.Get(ctx, keys)
		return vals, nil, err
	}
	if err := g.usable(ctx); err != nil {
		return nil, nil, err
	}
	st := g.state.Load()
	if !isUp(st) {
		return nil, nil, ErrUnavailable
	}
	vals, ttls, err := tg.GetTTL(ctx, keys)
	g.observe(ctx, st, err)
	return vals, ttls, err
}

// Set writes to the store; ErrUnavailable while it is down.
func (g *Guard) Set(ctx context.Context, items []Item) error {
	if err := g.usable(ctx); err != nil {
		return err
	}
	// An invalid batch is the caller's mistake: reject it here, before it
	// could be read as the store failing.
	if err := validateItems(items); err != nil {
		return err
	}
	st := g.state.Load()
	if !isUp(st) {
		return ErrUnavailable
	}
	err := g.backend.Set(ctx, items)
	g.observe(ctx, st, err)
	return err
}

// Delete forgets the keys in the store; ErrUnavailable while it is down:
// the shared store keeps them, and a purge must not report success for what
// it did not do.
func (g *Guard) Delete(ctx context.Context, keys []string) error {
	if err := g.usable(ctx); err != nil {
		return err
	}
	st := g.state.Load()
	if !isUp(st) {
		return ErrUnavailable
	}
	err := g.backend.Delete(ctx, keys)
	g.observe(ctx, st, err)
	return err
}

// Ping asks the store while it is up; while it is down it returns
// ErrUnavailable without I/O (the prober is asking already).
func (g *Guard) Ping(ctx context.Context) error {
	if err := g.usable(ctx); err != nil {
		return err
	}
	st := g.state.Load()
	if !isUp(st) {
		return ErrUnavailable
	}
	err := g.backend.Ping(ctx)
	g.observe(ctx, st, err)
	return err
}

// Close stops the prober, waiting for it, then closes the store; later
// calls return ErrClosed. Closing twice returns the first Close's result.
func (g *Guard) Close() error {
	g.closeOnce.Do(func() {
		g.closed.Store(true)
		g.stop() // also cancels a probe in flight
		<-g.proberDone
		g.closeErr = g.backend.Close()
	})
	return g.closeErr
}

// usable fails a call that must not reach the store: after Close, or when
// the caller's context has already ended (which says nothing about the
// store, so it must not be taken for an outage).
func (g *Guard) usable(ctx context.Context) error {
	if g.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// observe marks the store down when err says it failed in state st.
func (g *Guard) observe(ctx context.Context, st uint64, err error) {
	if storeFailed(ctx, err) {
		g.markDown(st, err)
	}
}

// storeFailed tells an outage from errors the store is not to blame for.
func storeFailed(ctx context.Context, err error) bool {
	if err == nil || errors.Is(err, ErrClosed) {
		return false
	}
	// The caller went away; its deadline passing, though, counts: it is what
	// a frozen store looks like.
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return false
	}
	// The server answered (OOM, WRONGTYPE, READONLY...): it is reachable and
	// answered fast, which is all the Guard is about. Marking it down would
	// also flap, since its PING succeeds, with two log lines per probe.
	var reply redis.Error
	return !errors.As(err, &reply)
}

func (g *Guard) markDown(from uint64, err error) {
	if !isUp(from) || !g.state.CompareAndSwap(from, from+1) {
		return // not this call's to report: another one did, or it is stale
	}
	g.downAt.Store(time.Now().UnixNano())
	g.upGauge.Set(0)
	g.changes.Inc()
	// The gateway always puts a Hot in front, which answers from the
	// process meanwhile; operators know this line by its words.
	g.log.Warn("cache store unreachable; serving from the in-process fallback", "store", g.backend.Name(), "err", err)
	select {
	case g.wake <- struct{}{}:
	default: // the prober has a wake-up pending already
	}
}

func (g *Guard) markUp(from uint64) {
	if isUp(from) || !g.state.CompareAndSwap(from, from+1) {
		return
	}
	if fn := g.onUp.Load(); fn != nil {
		(*fn)()
	}
	g.upGauge.Set(1)
	g.changes.Inc()
	down := time.Since(time.Unix(0, g.downAt.Load())).Round(time.Millisecond)
	g.log.Info("cache store is back", "store", g.backend.Name(), "down_for", down.String())
}

// probe runs for the Guard's life: it sleeps until the store goes down,
// then Pings it every interval until it answers.
func (g *Guard) probe() {
	defer close(g.proberDone)
	timer := time.NewTimer(g.interval)
	timer.Stop()
	for {
		select {
		case <-g.stopCtx.Done():
			return
		case <-g.wake:
		}
		for st := g.state.Load(); !isUp(st); st = g.state.Load() {
			timer.Reset(g.interval)
			select {
			case <-g.stopCtx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			ctx, cancel := context.WithTimeout(g.stopCtx, g.timeout)
			err := g.backend.Ping(ctx)
			cancel()
			if err == nil {
				g.markUp(st)
			}
		}
	}
}

func isUp(state uint64) bool { return state%2 == 0 }
