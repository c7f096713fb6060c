package cache

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/promreg"
)

// Bus carries the hot tier's invalidations between the replicas that share
// a store. *Redis implements it with pub/sub.
type Bus interface {
	// Publish sends payload to every subscriber of channel, this process's
	// own included.
	Publish(ctx context.Context, channel string, payload []byte) error
	// Subscribe calls deliver with each payload published on channel, and
	// subscribed each time the subscription is confirmed, the first time
	// and after every reconnection: what was published while it was lost
	// is lost. It returns at once; stop ends the subscription and returns
	// once no callback runs any more.
	Subscribe(channel string, deliver func(payload string), subscribed func()) (stop func())
}

// ttlGetter is a backend that tells, in the same round trip as Get, how
// long each entry has left (Redis, and a Guard over it).
type ttlGetter interface {
	GetTTL(ctx context.Context, keys []string) ([][]byte, []time.Duration, error)
}

// MaxHotTTL bounds HotOptions.TTL: it is how long a replica may go on
// serving an entry another replica changed, when the message saying so is
// lost.
const MaxHotTTL = time.Minute

// hotWarnEvery spaces the log lines of failed publishes: a Redis that
// refuses one refuses them all.
const hotWarnEvery = time.Second

// HotOptions configures NewHot.
type HotOptions struct {
	// Bytes bounds the entries kept in the process, as Memory counts them.
	Bytes int64
	// TTL is how long after an entry was put in the process it is served
	// without asking the backend; zero turns the hot tier off: every Get
	// asks the backend, and the process keeps only what the backend
	// failed to take, to answer while it is down. At most MaxHotTTL.
	TTL time.Duration
	// FillTTL is how long an entry read from the backend is kept in the
	// process, to serve while the backend is down, when the backend cannot
	// say how long it keeps that entry itself (Redis can, and the copy
	// then expires with the original): the longest it keeps one. Required
	// when TTL is set.
	FillTTL time.Duration
	// Bus and Channel carry invalidations between replicas: every
	// successful Set and Delete is published, and a Hot that is on drops
	// what other replicas publish. A nil Bus is a process alone.
	Bus     Bus
	Channel string
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Logger receives failed publishes, about one line a second at most.
	// Nil discards.
	Logger *slog.Logger
	// Registerer receives the tier's metrics. Nil registers nothing.
	Registerer prometheus.Registerer
}

// Hot is the one owner of process-local caching in front of a shared
// store: the hot tier that answers repeated reads without a round trip to
// Redis, and the fallback that answers while Redis is down. It implements
// the store contract, so it goes where a store goes.
//
// An entry is served from the process, without asking the backend, for at
// most TTL after it was read from the backend or written through, since
// the invalidations that other replicas publish on a refresh or a purge
// travel over pub/sub, which drops messages across reconnections; every
// (re)subscription also ages every entry held. When the backend fails (a
// Guard's ErrUnavailable, an I/O error, a deadline), Get answers from the
// process whatever an entry's age: the lookup service reads freshness from
// the value itself. Entries kept only in the process, because the backend
// failed to take them, are never served in place of the backend, and are
// dropped when a Guard behind finds the store back.
//
// Values are returned as held: callers must not modify them.
type Hot struct {
	backend Backend
	ttlGet  ttlGetter // the backend, when it can tell lifetimes
	local   *Memory
	ttl     int64 // nanoseconds; 0 is off
	fillTTL time.Duration
	now     func() time.Time
	bus     Bus
	channel string
	id      string // tells this process's messages from other replicas'
	log     *slog.Logger

	// youngAfter ages every entry put at or before it (UnixNano): set on
	// each subscription confirmation, since messages may have been lost.
	youngAfter atomic.Int64
	// gen changes whenever a key may have changed under a read in flight
	// (a write, an invalidation, a resubscription): a read that saw it
	// change does not keep what it read, which may be the old value.
	gen atomic.Uint64
	// recoveries counts the store coming back: a failed write that kept
	// its items while the store came back drops them again.
	recoveries atomic.Uint64

	hits, misses, fallbacks prometheus.Counter
	invalidations           prometheus.Counter
	publishErrors           prometheus.Counter
	heldBytes               prometheus.GaugeFunc
	lastWarn                atomic.Int64

	subMu     sync.Mutex
	started   atomic.Bool
	stopSub   func()
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// hotStamp is the put time (UnixNano, big-endian) before each value held in
// the process; 0 marks an entry the backend does not hold.
const hotStamp = 8

// hotMessage is one invalidation as published: JSON, so that an operator
// watching the channel with redis-cli can read it.
type hotMessage struct {
	From string   `json:"from"`
	Keys []string `json:"keys"`
}

// NewHot puts a process-local tier in front of backend, which the Hot then
// owns: Close closes it. A backend with an OnUp method (a Guard) tells the
// Hot when the store is back after an outage. NewHot does no I/O: the
// subscription starts with the first call.
func NewHot(backend Backend, o HotOptions) (*Hot, error) {
	switch {
	case backend == nil:
		return nil, errors.New("cache: NewHot needs a backend")
	case o.TTL < 0 || o.TTL > MaxHotTTL:
		return nil, errors.New("cache: the hot tier's TTL must be from 0 (off) to " + MaxHotTTL.String())
	case o.TTL > 0 && o.FillTTL <= 0:
		return nil, errors.New("cache: a hot tier that is on needs FillTTL")
	case o.Bus != nil && o.Channel == "":
		return nil, errors.New("cache: a hot tier with a bus needs a channel")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	h := &Hot{
		backend: backend,
		local:   NewMemory(o.Bytes, WithClock(o.Now)),
		ttl:     int64(o.TTL),
		fillTTL: o.FillTTL,
		now:     o.Now,
		bus:     o.Bus,
		channel: o.Channel,
		id:      hex.EncodeToString(id[:]),
		log:     o.Logger,
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipgate_cache_hot_requests_total",
		Help: "Store reads by where they were answered: hit (the process, without asking Redis), miss (Redis), fallback (the process, because Redis failed).",
	}, []string{"result"})
	h.hits = requests.WithLabelValues("hit")
	h.misses = requests.WithLabelValues("miss")
	h.fallbacks = requests.WithLabelValues("fallback")
	h.invalidations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tipgate_cache_hot_invalidations_total",
		Help: "Keys dropped from the process because another replica changed or purged them.",
	})
	h.publishErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tipgate_cache_hot_publish_errors_total",
		Help: "Invalidations that could not be published: other replicas serve the old entries for up to TIPGATE_CACHE_HOT_TTL.",
	})
	h.heldBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tipgate_cache_hot_bytes",
		Help: "Bytes held in the process (hot tier and fallback), as counted against its bound.",
	}, func() float64 { return float64(h.local.Bytes()) })
	if err := promreg.All(o.Registerer, requests, h.invalidations, h.publishErrors, h.heldBytes); err != nil {
		return nil, err
	}
	h.ttlGet, _ = backend.(ttlGetter)
	if n, ok := backend.(interface{ OnUp(func()) }); ok {
		n.OnUp(h.recovered)
	}
	return h, nil
}

// Name reports the backend's name: the tier is transparent to status.
func (h *Hot) Name() string { return h.backend.Name() }

// Ping asks the backend.
func (h *Hot) Ping(ctx context.Context) error {
	if h.closed.Load() {
		return ErrClosed
	}
	return h.backend.Ping(ctx)
}

// Get answers every key from the process when each was put there less than
// TTL ago; otherwise it asks the backend for all of them in one call and
// keeps what it answers. When the backend fails it answers from the
// process, whatever the entries' age.
func (h *Hot) Get(ctx context.Context, keys []string) ([][]byte, error) {
	if h.ttl == 0 {
		vals, err := h.backend.Get(ctx, keys)
		if err == nil || !backendFailed(ctx, err) {
			if err == nil {
				h.misses.Inc()
			}
			return vals, err
		}
		held, lerr := h.local.Get(ctx, keys)
		if lerr != nil {
			return nil, err
		}
		h.fallbacks.Inc()
		return unstamp(held), nil
	}

	h.subscribe()
	held, err := h.local.Get(ctx, keys)
	if err != nil {
		return nil, err
	}
	now := h.now().UnixNano()
	if h.allYoung(held, now) {
		h.hits.Inc()
		return unstamp(held), nil
	}
	gen := h.gen.Load()
	var (
		vals [][]byte
		ttls []time.Duration
	)
	if h.ttlGet != nil {
		vals, ttls, err = h.ttlGet.GetTTL(ctx, keys)
	} else {
		vals, err = h.backend.Get(ctx, keys)
	}
	if err != nil {
		if !backendFailed(ctx, err) {
			return nil, err
		}
		h.fallbacks.Inc()
		return unstamp(held), nil
	}
	h.misses.Inc()
	h.fill(keys, held, vals, ttls, now, gen)
	return vals, nil
}

// allYoung reports whether every value was put less than TTL ago, and
// after the last subscription confirmation.
func (h *Hot) allYoung(held [][]byte, now int64) bool {
	after := h.youngAfter.Load()
	for _, v := range held {
		if len(v) < hotStamp {
			return false
		}
		put := int64(binary.BigEndian.Uint64(v))
		if put == 0 || put <= after || now < put || now-put >= h.ttl {
			return false
		}
	}
	return true
}

// fill keeps what the backend answered, stamped with the time the read
// began, for as long as the backend keeps it (ttls, nil when it cannot
// tell), and forgets what it no longer holds: the store is the truth, and
// a copy kept here would come back during the next outage.
func (h *Hot) fill(keys []string, held, vals [][]byte, ttls []time.Duration, start int64, gen uint64) {
	if h.gen.Load() != gen {
		return
	}
	items := make([]Item, 0, len(keys))
	var gone []string
	for i, v := range vals {
		life := h.fillTTL
		if ttls != nil && ttls[i] >= 0 {
			life = ttls[i]
		}
		switch {
		case v != nil && life > 0:
			items = append(items, Item{Key: keys[i], Value: stamp(v, start), TTL: life})
		case held[i] != nil:
			gone = append(gone, keys[i])
		}
	}
	bg := context.Background()
	if len(gone) > 0 {
		_ = h.local.Delete(bg, gone)
	}
	if len(items) == 0 {
		return
	}
	_ = h.local.Set(bg, items)
	// A write or an invalidation that landed between the check above and
	// the Set may have been overwritten by the older value just read.
	if h.gen.Load() != gen {
		_ = h.local.Delete(bg, itemKeys(items))
	}
}

// Set writes through to the backend and, once it has the items, keeps
// them in the process and tells the other replicas. When the backend fails
// the items are kept in the process for the outage (it is what the
// outage's first miss fetched, and asking TIP again is what the fallback
// is for) and the error is still returned.
func (h *Hot) Set(ctx context.Context, items []Item) error {
	if h.closed.Load() {
		return ErrClosed
	}
	if err := validateItems(items); err != nil {
		return err
	}
	if len(items) == 0 {
		return h.backend.Set(ctx, items)
	}
	rec := h.recoveries.Load()
	start := h.now().UnixNano()
	err := h.backend.Set(ctx, items)
	bg := context.Background()
	switch {
	case err == nil:
		// Before the local write: a read in flight must not keep the value
		// it read before this write (see fill).
		h.gen.Add(1)
		if h.ttl > 0 {
			h.subscribe()
			_ = h.local.Set(bg, stampItems(items, start))
		}
		h.publish(ctx, itemKeys(items))
		return nil
	case !backendFailed(ctx, err):
		return err
	}
	_ = h.local.Set(bg, stampItems(items, 0))
	if h.recoveries.Load() != rec {
		// The store came back while this write failed: what it kept
		// must not outlive the recovery's clean-up.
		_ = h.local.Delete(bg, itemKeys(items))
	}
	return err
}

// Delete forgets the keys in the backend and in the process, and tells the
// other replicas once the backend has forgotten them. A backend error is
// returned even though the process forgot them: the shared store keeps
// them, and a purge must not report success for what it did not do.
func (h *Hot) Delete(ctx context.Context, keys []string) error {
	if h.closed.Load() {
		return ErrClosed
	}
	err := h.backend.Delete(ctx, keys)
	h.gen.Add(1)
	_ = h.local.Delete(context.Background(), keys)
	if err == nil && len(keys) > 0 {
		h.publish(ctx, keys)
	}
	return err
}

// Close ends the subscription, then closes the backend and drops what the
// process holds; later calls return ErrClosed. Closing twice returns the
// first Close's result.
func (h *Hot) Close() error {
	h.closeOnce.Do(func() {
		h.closed.Store(true)
		h.subMu.Lock()
		if h.stopSub != nil {
			h.stopSub()
		}
		h.subMu.Unlock()
		h.closeErr = h.backend.Close()
		_ = h.local.Close()
	})
	return h.closeErr
}

// subscribe starts listening for other replicas' invalidations, once. It
// waits for the first call rather than NewHot, which must open nothing.
func (h *Hot) subscribe() {
	if h.bus == nil || h.started.Load() {
		return
	}
	h.subMu.Lock()
	defer h.subMu.Unlock()
	if h.started.Load() || h.closed.Load() {
		return
	}
	h.stopSub = h.bus.Subscribe(h.channel, h.deliver, h.subscribed)
	h.started.Store(true)
}

// deliver drops the keys another replica changed or purged.
func (h *Hot) deliver(payload string) {
	var m hotMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		h.log.Debug("ignoring a malformed hot tier invalidation", "err", err)
		return
	}
	if m.From == h.id || len(m.Keys) == 0 {
		return
	}
	h.gen.Add(1)
	_ = h.local.Delete(context.Background(), m.Keys)
	h.invalidations.Add(float64(len(m.Keys)))
}

// subscribed ages every entry held: messages sent while the subscription
// was being (re)established were lost.
func (h *Hot) subscribed() {
	h.gen.Add(1)
	h.youngAfter.Store(h.now().UnixNano())
}

// recovered runs when the store is back: other replicas may have written
// newer answers for the keys held here (a refresh, a purge), which copies
// kept here would shadow during the next outage. The store is the truth
// again; the process starts empty.
func (h *Hot) recovered() {
	h.recoveries.Add(1)
	h.gen.Add(1)
	h.local.Clear()
}

func (h *Hot) publish(ctx context.Context, keys []string) {
	if h.bus == nil {
		return
	}
	payload, err := json.Marshal(hotMessage{From: h.id, Keys: keys})
	if err == nil {
		// The write is done; a caller leaving now must not keep the other
		// replicas from hearing of it.
		err = h.bus.Publish(context.WithoutCancel(ctx), h.channel, payload)
	}
	if err == nil {
		return
	}
	h.publishErrors.Inc()
	now := time.Now().UnixNano()
	if last := h.lastWarn.Load(); now-last >= int64(hotWarnEvery) && h.lastWarn.CompareAndSwap(last, now) {
		h.log.Warn("could not tell the other replicas of a cache change; they may serve the old entry for up to TIPGATE_CACHE_HOT_TTL", "err", err)
	}
}

// backendFailed tells a backend that could not answer (down, or failing now) from
// errors the caller or the store's own reply caused, as the Guard does.
func backendFailed(ctx context.Context, err error) bool {
	return errors.Is(err, ErrUnavailable) || storeFailed(ctx, err)
}

func stamp(v []byte, put int64) []byte {
	b := make([]byte, hotStamp+len(v))
	binary.BigEndian.PutUint64(b, uint64(put))
	copy(b[hotStamp:], v)
	return b
}

func stampItems(items []Item, put int64) []Item {
	out := make([]Item, len(items))
	for i, it := range items {
		out[i] = Item{Key: it.Key, Value: stamp(it.Value, put), TTL: it.TTL}
	}
	return out
}

// unstamp strips the put times in place, without copying the values.
func unstamp(held [][]byte) [][]byte {
	for i, v := range held {
		if len(v) >= hotStamp {
			held[i] = v[hotStamp:]
		} else {
			held[i] = nil
		}
	}
	return held
}

func itemKeys(items []Item) []string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return keys
}
