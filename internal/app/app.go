// Package app owns tipgate's lifecycle: it wires configuration into a store,
// a TIP client, the lookup service and the HTTP server, runs them, and shuts
// them down in reverse order within a bounded time. New builds everything
// and refuses a configuration its components refuse (Check is New without
// serving, for `tipgate check-config`); it opens no connection, and what it
// starts Stop ends. Tests embed it in-process on 127.0.0.1:0.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/config"
	"github.com/tipgate/tipgate/internal/coord"
	"github.com/tipgate/tipgate/internal/flat"
	"github.com/tipgate/tipgate/internal/httpapi"
	"github.com/tipgate/tipgate/internal/kuma"
	"github.com/tipgate/tipgate/internal/localnet"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/reqlog"
	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/ui"
	"github.com/tipgate/tipgate/internal/upstream"
)

// fallbackBytes bounds what the process keeps while Redis is unreachable
// when the hot tier is off (TIPGATE_CACHE_HOT_BYTES=0), so that a lookup
// repeated during an outage costs one TIP request, not one per call.
const fallbackBytes = 32 << 20

// writerDrainTimeout bounds how long shutdown waits for answers still being
// written behind to reach the store.
const writerDrainTimeout = 5 * time.Second

// abortGrace is how long, past the drain deadline, the requests still
// running get to write the 503 they are then answered with and return.
const abortGrace = time.Second

// Version is the build's version, set by the linker (-X).
var Version = "dev"

// store is what the app needs of a cache backend beyond the lookup service's
// needs: a health probe, a name for status, and a way to release it.
type store interface {
	lookup.Store
	Ping(ctx context.Context) error
	Name() string
	Close() error
}

// App is one running tipgate.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	registry *prometheus.Registry
	store    store
	guard    *cache.Guard // nil on the memory store; a.store is a Hot over it
	// client is the TIP client built at start; a reload may replace it,
	// so everything after New asks tipClient().
	client   *tip.Client
	upstream *upstreamPath
	lookup   *lookup.Service
	server   *http.Server
	listener net.Listener
	// abort ends at the drain deadline: the HTTP layer then answers every
	// request still running with a 503 shutting-down problem.
	abortCtx context.Context
	abort    context.CancelFunc
	rt       runtime // probe, reloads, certificate lifecycle (reload.go)

	stopOnce sync.Once
	stopErr  error
	cleanups []cleanup
}

type cleanup struct {
	name string
	fn   func() error
}

// New wires an App from a validated configuration. Nothing listens yet, no
// connection is opened (a Redis that is down is found by the first call,
// not here), and every goroutine it starts ends with Stop. A configuration
// one of the components refuses (the keys file's content, what only the
// TIP client checks, the Redis URL) is a *config.Problems naming the
// variables, every refusal at once.
func New(cfg *config.Config, logger *slog.Logger) (_ *App, err error) {
	if cfg == nil || logger == nil {
		return nil, errors.New("app: config and logger are required")
	}
	a := &App{cfg: cfg, log: logger, registry: prometheus.NewRegistry()}
	a.abortCtx, a.abort = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			_ = a.runCleanups()
		}
	}()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The components that judge the configuration first, every refusal
	// collected before anything is started.
	var (
		problems []config.Problem
		keys     *apikey.Keyring
		redis    *cache.Redis
		redisAt  int // its cleanup, which the guard's replaces
	)
	if cfg.Auth {
		if keys, err = apikey.Load(cfg.APIKeys); err != nil {
			problems = append(problems, config.Problem{Var: "TIPGATE_API_KEYS_FILE", Msg: cfg.APIKeysFile + ": " + err.Error(), Err: err})
		}
	}
	if a.client, err = tip.New(TIPConfig(cfg)); err != nil {
		problems = append(problems, tipProblems(err)...)
	}
	if cfg.RedisURL.Reveal() != "" {
		if redis, err = cache.OpenRedis(cfg.RedisURL.Reveal(), cache.RedisOptions{Mode: cfg.RedisMode}); err != nil {
			problems = append(problems, config.Problem{Var: "TIPGATE_REDIS_URL", Msg: strings.TrimPrefix(err.Error(), "cache: the Redis URL "), Err: err})
		} else {
			redisAt = len(a.cleanups)
			a.cleanups = append(a.cleanups, cleanup{"redis", redis.Close})
		}
	}
	if len(problems) > 0 {
		return nil, &config.Problems{List: problems}
	}
	if !cfg.Auth {
		logger.Warn("API key authentication is OFF (TIPGATE_AUTH=off): every caller may look up, refresh and administer; use this only on a trusted network")
	}
	ns := lookup.Namespace(a.client.BaseURL())

	var (
		locks   lookup.Locks
		writer  lookup.Writer
		counter upstream.DayCounter = upstream.NewLocalCounter()
	)
	if redis == nil {
		a.store = cache.NewMemory(cfg.MemoryCacheBytes)
		a.cleanups = append(a.cleanups, cleanup{"store", a.store.Close})
	} else {
		a.guard, err = cache.NewGuard(redis, cache.GuardOptions{
			Logger:     logger.With("component", "store"),
			Registerer: a.registry,
		})
		if err != nil {
			return nil, err
		}
		// The guard owns the store from here, and closes it.
		a.cleanups[redisAt] = cleanup{"store", a.guard.Close}
		hot, err := cache.NewHot(a.guard, hotOptions(cfg, ns, redis, logger, a.registry))
		if err != nil {
			return nil, err
		}
		// The hot tier owns the guard from here, and closes it.
		a.cleanups[redisAt] = cleanup{"store", hot.Close}
		a.store = hot
		// Replicas sharing this Redis coordinate through it: one TIP
		// request per question across all of them, one daily budget. While
		// the store is down they fall back to this process alone.
		c := coord.NewRedis(redis.Client(), coord.Options{
			Namespace: ns,
			Healthy:   a.guard.Healthy,
			Logger:    logger.With("component", "coord"),
		})
		a.cleanups = append(a.cleanups, cleanup{"coordination", c.Close})
		locks, counter = c, c
		w, err := cache.NewWriter(hot, cache.WriterOptions{
			Logger:     logger.With("component", "store"),
			Registerer: a.registry,
		})
		if err != nil {
			return nil, err
		}
		// Drained before the store closes (cleanups run last first).
		a.cleanups = append(a.cleanups, cleanup{"write-behind", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), writerDrainTimeout)
			defer cancel()
			return w.Close(ctx)
		}})
		writer = w
	}

	if a.upstream, err = buildUpstream(cfg, a.client, counter, keys.Names(), a.registry, logger); err != nil {
		return nil, err
	}
	if err = a.initRuntime(keys); err != nil {
		return nil, err
	}

	catalog := tip.NewCatalog()
	a.lookup, err = lookup.New(lookup.Options{
		Store:        a.store,
		Upstream:     a.upstream.head,
		Catalog:      catalog,
		Locks:        locks,
		Writer:       writer,
		Local:        localnet.New(cfg.LocalNets, cfg.LocalDomains),
		Namespace:    ns,
		Logger:       logger.With("component", "lookup"),
		Registerer:   a.registry,
		TTL:          cfg.CacheTTL,
		GreyTTL:      cfg.CacheTTLGrey,
		StaleFor:     cfg.CacheStale,
		DefaultLimit: cfg.DefaultLimit,
		FetchTimeout: fetchTimeout(cfg),
		// A batch's misses may hold at most half of the TIP request
		// slots, so that single lookups are not starved behind it.
		Bulk: upstream.WithBulk,
	})
	if err != nil {
		return nil, err
	}

	kumaHandler, err := kuma.New(kuma.Options{
		Looker:     a.lookup,
		Keys:       keys,
		CacheOnly:  cfg.KUMACacheOnly,
		Logger:     logger.With("component", "kuma"),
		Registerer: a.registry,
	})
	if err != nil {
		return nil, err
	}
	var functions []httpapi.Function
	for _, f := range flat.Functions() {
		functions = append(functions, httpapi.Function{Name: f.Name, Type: f.Type, Sections: f.Sections})
	}

	console, err := ui.New()
	if err != nil {
		return nil, err
	}
	handler, err := httpapi.New(httpapi.Options{
		Service:        a.lookup,
		Flatten:        flat.Flatten,
		Functions:      functions,
		KUMA:           kumaHandler,
		Keys:           keys,
		Ready:          a.ready,
		Status:         a.status,
		Registerer:     a.registry,
		Gatherer:       a.registry,
		Logger:         logger.With("component", "http"),
		TrustedProxies: cfg.TrustedProxies,
		Abort:          a.abortCtx,
		RequestTimeout: cfg.RequestTimeout,
		DefaultLimit:   cfg.DefaultLimit,
		UI:             console,
	})
	if err != nil {
		return nil, err
	}
	a.server = &http.Server{
		Addr:              cfg.Addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return a, nil
}

// hotOptions configures the process-local tier in front of Redis: on, with
// TIPGATE_CACHE_HOT_BYTES and _TTL; off, it still keeps what Redis fails to
// take during an outage, within fallbackBytes. An entry read from Redis is
// kept at most as long as Redis keeps it, which Redis tells; FillTTL, the
// longest any entry lives there, only covers an entry without expiry.
func hotOptions(cfg *config.Config, ns string, bus cache.Bus, logger *slog.Logger, reg prometheus.Registerer) cache.HotOptions {
	o := cache.HotOptions{
		Bytes:      cfg.HotCacheBytes,
		TTL:        cfg.HotCacheTTL,
		FillTTL:    max(cfg.CacheTTL, cfg.CacheTTLGrey) + cfg.CacheStale,
		Bus:        bus,
		Channel:    "tipgate:" + ns + ":hot",
		Logger:     logger.With("component", "store"),
		Registerer: reg,
	}
	if cfg.HotCacheBytes == 0 {
		o.Bytes, o.TTL = fallbackBytes, 0
	}
	return o
}

// Check runs every check New runs, and serves nothing: the configuration
// as Load already read it, then the keys file, the TIP client and the store
// as they are built. `tipgate check-config` calls it so that it refuses
// exactly what `tipgate serve` refuses. It builds an App and releases it.
func Check(cfg *config.Config, logger *slog.Logger) error {
	a, err := New(cfg, logger)
	if err != nil {
		return err
	}
	return a.Stop(context.Background())
}

// TIPConfig is the TIP client's configuration from tipgate's: the client
// certificate Load decoded (the PFX is not decoded again), or the token.
func TIPConfig(cfg *config.Config) tip.Config {
	return tip.Config{
		BaseURL:     cfg.TIPURL,
		Username:    cfg.TIPUsername,
		Password:    cfg.TIPPassword.Reveal(),
		Certificate: cfg.TIPCertificate,
		Token:       cfg.TIPToken.Reveal(),
		CAPEM:       cfg.TIPCA,
		Timeout:     cfg.TIPTimeout,
		UserAgent:   "tipgate/" + Version,
	}
}

// tipVar finds the variable a TIP client error names.
var tipVar = regexp.MustCompile(`TIPGATE_[A-Z_]+`)

// tipProblems turns the TIP client's refusal, one line per problem, each
// naming its variable, into configuration problems.
func tipProblems(err error) []config.Problem {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []config.Problem
	for _, e := range errs {
		msg := e.Error()
		name := tipVar.FindString(msg)
		if name == "" {
			name = "TIP client" // a problem of the build (the user agent), not of a variable
		}
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, name+": "), name+" ")
		out = append(out, config.Problem{Var: name, Msg: msg, Err: e})
	}
	return out
}

// StoreName is the cache backend: "memory" or "redis".
func (a *App) StoreName() string { return a.store.Name() }

// Audit writes an audit line for an action no HTTP request carried, such as
// a reload of the TIP credentials or the API keys on SIGHUP or on a changed
// file: action names it ("reload"), trigger says what caused it ("signal",
// "file"), detail what it concerned (never a secret), and err is nil when it
// succeeded. Refreshes and purges are audited by the HTTP layer in the same
// shape.
func (a *App) Audit(action, trigger, detail string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = err.Error()
	}
	reqlog.Audit(context.Background(), a.log, reqlog.Event{Action: action, Outcome: outcome, Trigger: trigger, Detail: detail})
}

// Start binds the listen address. Serving begins with Serve.
func (a *App) Start() error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("TIPGATE_ADDR: listen on %s: %w", a.cfg.Addr, err)
	}
	if c := a.cfg.TLSCertificate; c != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*c}, MinVersion: tls.VersionTLS12})
	}
	a.listener = ln
	return nil
}

// Addr is the bound address, after Start.
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Serve answers requests until ctx ends, then drains in-flight requests for
// at most the configured shutdown timeout and releases everything.
func (a *App) Serve(ctx context.Context) error {
	if a.listener == nil {
		if err := a.Start(); err != nil {
			return err
		}
	}
	a.logStart()
	a.startBackground()
	errc := make(chan error, 1)
	go func() { errc <- a.server.Serve(a.listener) }()
	select {
	case err := <-errc:
		_ = a.Stop(context.Background())
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "drain_timeout", a.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	err := a.Stop(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Stop drains the server and releases resources; it is idempotent. Requests
// still running when ctx ends are answered 503 shutting-down and given
// abortGrace to return; then the server closes whatever is left. A drain
// ended that way is a clean stop, not an error.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		var errs []error
		if a.server != nil {
			if err := a.drain(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		a.abort()
		errs = append(errs, a.runCleanups())
		a.stopErr = errors.Join(errs...)
	})
	return a.stopErr
}

// drain shuts the server down: it stops accepting, waits for the requests
// in flight until ctx ends, then has the HTTP layer answer those still
// running with a 503 and waits abortGrace more for them to return.
func (a *App) drain(ctx context.Context) error {
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.server.Shutdown(sctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		a.log.Warn("the drain deadline passed; requests still running are answered 503 shutting-down")
		a.abort()
		grace := time.NewTimer(abortGrace)
		select {
		case err = <-done:
		case <-grace.C:
			cancel()
			err = <-done
		}
		grace.Stop()
	}
	if err != nil {
		_ = a.server.Close()
		return fmt.Errorf("drain HTTP server: requests still running %v after the drain deadline: %w", abortGrace, err)
	}
	return nil
}

func (a *App) runCleanups() error {
	var errs []error
	for i := len(a.cleanups) - 1; i >= 0; i-- {
		if err := a.cleanups[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", a.cleanups[i].name, err))
		}
	}
	a.cleanups = nil
	return errors.Join(errs...)
}

func (a *App) logStart() {
	attrs := []any{"addr", a.Addr(), "version", Version, "store", a.store.Name(), "tip_url", a.tipClient().BaseURL(), "auth", a.cfg.Auth}
	if c := a.tipClient().Certificate(); c != nil {
		// The expiry warning is checkCertificateExpiry's (certs.go).
		attrs = append(attrs, "client_certificate", c.Subject.String(), "client_certificate_expires", c.NotAfter.UTC().Format(time.RFC3339))
	}
	a.log.Info("tipgate listening", attrs...)
}
