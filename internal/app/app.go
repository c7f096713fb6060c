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
	"github.com/tipgate/tipgate/internal/httpapi"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
)

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
	client   *tip.Client
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

	if a.store, err = openStore(cfg); err != nil {
		return nil, err
	}
	a.cleanups = append(a.cleanups, cleanup{"store", a.store.Close})

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

	catalog := tip.NewCatalog()
	a.lookup, err = lookup.New(lookup.Options{
		Store:        a.store,
		Upstream:     a.client,
		Catalog:      catalog,
		Logger:       logger.With("component", "lookup"),
		Registerer:   a.registry,
		TTL:          cfg.CacheTTL,
		GreyTTL:      cfg.CacheTTLGrey,
		StaleFor:     cfg.CacheStale,
		DefaultLimit: cfg.DefaultLimit,
		FetchTimeout: cfg.TIPTimeout + 5*time.Second,
	})
	if err != nil {
		return nil, err
	}

	var keys *apikey.Keyring
	if cfg.Auth {
		if keys, err = apikey.Load(cfg.APIKeys); err != nil {
			return nil, fmt.Errorf("TIPGATE_API_KEYS_FILE %s: %w", cfg.APIKeysFile, err)
		}
	} else {
		logger.Warn("API key authentication is OFF (TIPGATE_AUTH=off): every caller may look up, refresh and administer; use this only on a trusted network")
	}

	handler, err := httpapi.New(httpapi.Options{
		Service:        a.lookup,
		Catalog:        catalog,
		Keys:           keys,
		Ready:          a.ready,
		Status:         a.status,
		Registerer:     a.registry,
		Gatherer:       a.registry,
		Logger:         logger.With("component", "http"),
		RequestTimeout: cfg.RequestTimeout,
		DefaultLimit:   cfg.DefaultLimit,
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

func openStore(cfg *config.Config) (store, error) {
	if cfg.RedisURL.Reveal() == "" {
		return cache.NewMemory(cfg.MemoryCacheBytes), nil
	}
	s, err := cache.OpenRedis(cfg.RedisURL.Reveal(), cache.RedisOptions{})
	if err != nil {
		return nil, fmt.Errorf("TIPGATE_REDIS_URL: %w", err)
	}
	return s, nil
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
