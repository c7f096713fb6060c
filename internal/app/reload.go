package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/config"
	"github.com/tipgate/tipgate/internal/tip"
)

// defaultWatchEvery is how often the credential files are looked at. Kubernetes
// takes up to a minute to update a mounted secret; a few seconds more is
// nothing, and a stat of a handful of small files costs nothing either.
const defaultWatchEvery = 3 * time.Second

// runtime is the part of App that changes while it runs: the TIP probe,
// reloads of TIP credentials and API keys, and the client certificate's
// lifecycle.
type runtime struct {
	probe      *prober
	keys       *apikey.Keyring // nil when authentication is off
	watchEvery time.Duration

	reloads *prometheus.CounterVec

	mu      sync.Mutex // serialises reloads
	source  *config.Source
	loaded  fingerprint // of what is in use
	watched []watchedFile

	certMu       sync.Mutex
	certWarnedAt time.Time
	certWarned   string // the certificate (serial) last warned about

	stop func() // ends the background tasks and waits for them
}

// fingerprint identifies credential material without holding it.
type fingerprint struct {
	tip  [sha256.Size]byte // TIP credentials and CA bundle
	keys [sha256.Size]byte // the keys file
}

func fingerprintOf(cfg *config.Config) fingerprint {
	h := sha256.New()
	for _, part := range [][]byte{
		[]byte(cfg.TIPUsername), []byte(cfg.TIPPassword.Reveal()), cfg.TIPPFX,
		[]byte(cfg.TIPPFXPassword.Reveal()), []byte(cfg.TIPToken.Reveal()), cfg.TIPCA,
	} {
		// Length-prefixed, so that no two different tuples hash alike.
		_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
		h.Write(part)
	}
	var f fingerprint
	copy(f.tip[:], h.Sum(nil))
	f.keys = sha256.Sum256(cfg.APIKeys)
	return f
}

// initRuntime is called by New once the upstream chain is built.
func (a *App) initRuntime(keys *apikey.Keyring) error {
	a.rt.keys = keys
	a.rt.watchEvery = defaultWatchEvery
	a.rt.loaded = fingerprintOf(a.cfg)
	a.rt.probe = newProber(a.cfg.TIPProbe, a.upstream.probe, a.tipClient, a.cfg.TIPTimeout+setupGrace, a.log.With("component", "probe"))
	a.rt.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipgate_reload_total",
		Help: "Reloads of TIP credentials and API keys (SIGHUP or a changed file), by result: ok, or error (the old ones stay in use).",
	}, []string{"result"})
	a.rt.reloads.WithLabelValues("ok")
	a.rt.reloads.WithLabelValues("error")
	if err := a.registry.Register(a.rt.reloads); err != nil {
		return err
	}
	if a.tipClient().Certificate() != nil {
		return a.registry.Register(certExpiryGauge(a.tipClient))
	}
	return nil
}

// setupGrace is added to the TIP timeout for the probe's own deadline: the
// connection set-up and a diagnostic TLS handshake.
const setupGrace = 15 * time.Second

// tipClient is the TIP client in use now; a reload may replace it.
func (a *App) tipClient() *tip.Client { return a.upstream.swap.Current() }

// WatchSource makes the App reload TIP credentials and API keys from src:
// on Reload (SIGHUP), and by itself when a file src names changes on disk,
// as Kubernetes updates a mounted secret. Call it before Serve.
func (a *App) WatchSource(src config.Source) {
	a.rt.mu.Lock()
	defer a.rt.mu.Unlock()
	a.rt.source = &src
	a.rt.watched = nil
	for _, f := range src.CredentialFiles() {
		w := watchedFile{File: f}
		w.look(src.ReadFile)
		a.rt.watched = append(a.rt.watched, w)
	}
}

// startBackground starts the probe and the watcher. Stop ends them before
// anything they use is closed.
func (a *App) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.warmTIP(ctx, a.tipClient()) })
	if a.rt.probe.enabled() {
		wg.Go(func() { a.rt.probe.run(ctx) })
	}
	a.checkCertificateExpiry()
	wg.Go(func() { a.watch(ctx) })
	a.rt.stop = func() { cancel(); wg.Wait() }
	a.cleanups = append(a.cleanups, cleanup{"background tasks", func() error { a.rt.stop(); return nil }})
}

// watch looks at the credential files every watchEvery and reloads once a
// change has settled (no further change for one interval, so that a PFX
// and its password updated one after the other make one reload); it also
// repeats the certificate expiry warning daily.
func (a *App) watch(ctx context.Context) {
	t := time.NewTicker(a.rt.watchEvery)
	defer t.Stop()
	var pending []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.checkCertificateExpiry()
		changed := a.lookAtFiles()
		if len(changed) > 0 {
			for _, v := range changed {
				if !slices.Contains(pending, v) {
					pending = append(pending, v)
				}
			}
			continue
		}
		if len(pending) > 0 {
			_ = a.Reload("file change: " + strings.Join(pending, ", "))
			pending = nil
		}
	}
}

// lookAtFiles returns the variables whose file's content changed since the
// last look.
func (a *App) lookAtFiles() []string {
	a.rt.mu.Lock()
	defer a.rt.mu.Unlock()
	if a.rt.source == nil {
		return nil
	}
	var changed []string
	for i := range a.rt.watched {
		if a.rt.watched[i].look(a.rt.source.ReadFile) {
			changed = append(changed, a.rt.watched[i].Var)
		}
	}
	return changed
}

// watchedFile is what was last seen of one file: its size and modification
// time (cheap to look at) and its content's hash (read only when those
// change, so that touching a file reloads nothing).
type watchedFile struct {
	config.File
	seen bool
	size int64
	mod  time.Time
	sum  [sha256.Size]byte
}

// look stats the file and reports whether its content changed. A file that
// cannot be read (Kubernetes swapping a secret's link) is looked at again
// next time; it changes nothing.
func (w *watchedFile) look(read func(string) ([]byte, error)) bool {
	fi, err := os.Stat(w.Path)
	if err != nil {
		return false
	}
	if w.seen && fi.Size() == w.size && fi.ModTime().Equal(w.mod) {
		return false
	}
	data, err := read(w.Path)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	changed := w.seen && !bytes.Equal(sum[:], w.sum[:])
	w.seen, w.size, w.mod, w.sum = true, fi.Size(), fi.ModTime(), sum
	return changed
}

// Reload reads the configuration source again and, when the TIP
// credentials or the API keys differ from those in use, builds new ones
// and swaps them in: lookups and requests in flight finish with the old
// ones, every later one uses the new. Both are built before either is
// swapped, so a reload that fails anywhere changes nothing; it says why
// in the log (never a secret) and counts tipgate_reload_total{result="error"}.
// trigger says what asked for it (SIGHUP, a file change), for the audit line.
func (a *App) Reload(trigger string) error {
	a.rt.mu.Lock()
	defer a.rt.mu.Unlock()
	if a.rt.source == nil {
		return a.reloadFailed(trigger, errors.New("this gateway was started without a configuration source to reload from"))
	}
	cfg, err := a.rt.source.Load()
	if err != nil {
		return a.reloadFailed(trigger, fmt.Errorf("the configuration has problems: %w", err))
	}
	fp := fingerprintOf(cfg)
	var (
		changed []string
		client  *tip.Client
		keys    *apikey.Keyring
	)
	if fp.tip != a.rt.loaded.tip {
		if client, err = tip.New(TIPConfig(cfg)); err != nil {
			return a.reloadFailed(trigger, fmt.Errorf("TIP client: %w", err))
		}
		changed = append(changed, "TIP credentials")
	}
	if a.rt.keys != nil && fp.keys != a.rt.loaded.keys {
		if keys, err = apikey.Load(cfg.APIKeys); err != nil {
			return a.reloadFailed(trigger, fmt.Errorf("TIPGATE_API_KEYS_FILE %s: %w", cfg.APIKeysFile, err))
		}
		changed = append(changed, "API keys")
	}
	if client != nil {
		old := a.upstream.swap.Set(client)
		old.CloseIdleConnections()
	}
	if keys != nil {
		a.rt.keys.Replace(keys)
	}
	a.rt.loaded = fp
	a.rt.reloads.WithLabelValues("ok").Inc()

	attrs := []any{"audit", "reload", "trigger", trigger, "outcome", "ok", "changed", changed}
	if keys != nil {
		attrs = append(attrs, "api_keys", keys.Len())
	}
	if c := a.tipClient().Certificate(); client != nil && c != nil {
		attrs = append(attrs, "client_certificate", c.Subject.String(), "client_certificate_expires", c.NotAfter.UTC().Format(time.RFC3339))
	}
	if len(changed) == 0 {
		a.log.Info("reload: nothing changed", attrs...)
		return nil
	}
	a.log.Info("reload: now using the new "+strings.Join(changed, " and "), attrs...)
	if client != nil {
		a.checkCertificateExpiry()
		// New credentials deserve a fresh answer from TIP, whatever the
		// backoff was (it guarded the old ones).
		if a.rt.probe.enabled() {
			a.rt.probe.again()
		}
	}
	return nil
}

func (a *App) reloadFailed(trigger string, err error) error {
	a.rt.reloads.WithLabelValues("error").Inc()
	a.log.Info("reload failed", "audit", "reload", "trigger", trigger, "outcome", "error", "err", err)
	a.log.Warn("reload failed; the TIP credentials and API keys in use stay in use", "trigger", trigger, "err", err)
	return err
}
