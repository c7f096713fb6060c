// Package app owns tipgate's lifecycle: it wires configuration into a store,
// a TIP client, the lookup service and the HTTP server, runs them, and shuts
// them down in reverse order within a bounded time. Tests embed it in-process
// on 127.0.0.1:0.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/ui"
	"github.com/tipgate/tipgate/internal/upstream"
)

// fallbackBytes bounds the in-process store that answers while Redis is
// unreachable, so that a lookup repeated during an outage costs one TIP
// request, not one per call.
const fallbackBytes = 32 << 20

// writerDrainTimeout bounds how long shutdown waits for answers still being
// written behind to reach the store.
const writerDrainTimeout = 5 * time.Second

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
	guard    *cache.Guard // nil on the memory store
	client   *tip.Client
	upstream *upstreamPath
	lookup   *lookup.Service
	server   *http.Server
	listener net.Listener

	stopOnce sync.Once
	stopErr  error
	cleanups []cleanup
}

type cleanup struct {
	name string
	fn   func() error
}

// New wires an App from a validated configuration. Nothing listens yet.
func New(cfg *config.Config, logger *slog.Logger) (_ *App, err error) {
	if cfg == nil || logger == nil {
		return nil, errors.New("app: config and logger are required")
	}
	a := &App{cfg: cfg, log: logger, registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			_ = a.runCleanups()
		}
	}()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var keys *apikey.Keyring
	if cfg.Auth {
		if keys, err = apikey.Load(cfg.APIKeys); err != nil {
			return nil, fmt.Errorf("TIPGATE_API_KEYS_FILE %s: %w", cfg.APIKeysFile, err)
		}
	} else {
		logger.Warn("API key authentication is OFF (TIPGATE_AUTH=off): every caller may look up, refresh and administer; use this only on a trusted network")
	}

	a.client, err = tip.New(tip.Config{
		BaseURL:     cfg.TIPURL,
		Username:    cfg.TIPUsername,
		Password:    cfg.TIPPassword.Reveal(),
		PFX:         cfg.TIPPFX,
		PFXPassword: cfg.TIPPFXPassword.Reveal(),
		Token:       cfg.TIPToken.Reveal(),
		CAPEM:       cfg.TIPCA,
		Timeout:     cfg.TIPTimeout,
		UserAgent:   "tipgate/" + Version,
	})
	if err != nil {
		return nil, fmt.Errorf("TIP client: %w", err)
	}
	ns := lookup.Namespace(a.client.BaseURL())

	var (
		locks   lookup.Locks
		writer  lookup.Writer
		counter upstream.DayCounter = upstream.NewLocalCounter()
	)
	if cfg.RedisURL.Reveal() == "" {
		a.store = cache.NewMemory(cfg.MemoryCacheBytes)
		a.cleanups = append(a.cleanups, cleanup{"store", a.store.Close})
	} else {
		r, err := cache.OpenRedis(cfg.RedisURL.Reveal(), cache.RedisOptions{})
		if err != nil {
			return nil, fmt.Errorf("TIPGATE_REDIS_URL: %w", err)
		}
		a.guard, err = cache.NewGuard(r, cache.GuardOptions{
			Fallback:   cache.NewMemory(fallbackBytes),
			Logger:     logger.With("component", "store"),
			Registerer: a.registry,
		})
		if err != nil {
			_ = r.Close()
			return nil, err
		}
		a.store = a.guard
		a.cleanups = append(a.cleanups, cleanup{"store", a.guard.Close})
		// Replicas sharing this Redis coordinate through it: one TIP
		// request per question across all of them, one daily budget. While
		// the store is down they fall back to this process alone.
		c := coord.NewRedis(r.Client(), coord.Options{
			Namespace: ns,
			Healthy:   a.guard.Healthy,
			Logger:    logger.With("component", "coord"),
		})
		a.cleanups = append(a.cleanups, cleanup{"coordination", c.Close})
		locks, counter = c, c
		w, err := cache.NewWriter(a.guard, cache.WriterOptions{
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

// Stop drains the server and releases resources; it is idempotent.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		var errs []error
		if a.server != nil {
			if err := a.server.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("drain HTTP server: %w", err))
				_ = a.server.Close()
			}
		}
		errs = append(errs, a.runCleanups())
		a.stopErr = errors.Join(errs...)
	})
	return a.stopErr
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
	attrs := []any{"addr", a.Addr(), "version", Version, "store", a.store.Name(), "tip_url", a.client.BaseURL(), "auth", a.cfg.Auth}
	if c := a.client.Certificate(); c != nil {
		attrs = append(attrs, "client_certificate", c.Subject.String(), "client_certificate_expires", c.NotAfter.UTC().Format(time.RFC3339))
		if left := time.Until(c.NotAfter); left < 30*24*time.Hour {
			a.log.Warn("the TIP client certificate expires soon; ask your Kaspersky TAM for a new PFX", "expires", c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	a.log.Info("tipgate listening", attrs...)
}
