package main

// The setup every test of the built binary shares: the binary, built once;
// a simulator over mTLS with its credentials written to files; a keys file;
// the environment that points tipgate at them; and a running
// `tipgate serve`, healthy, with its stderr kept, stopped with SIGTERM.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/redistest"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// clusterWait bounds every wait of these tests for something that should
// take milliseconds: generous, because the suite runs under -race on two
// shared cores.
const clusterWait = 20 * time.Second

// The binary is built once and shared by every test that runs it; the
// last test to let go of it removes it. Each test takes its reference
// before t.Parallel, so that parallel tests all hold one while any runs.
var sharedBin struct {
	mu   sync.Mutex
	dir  string
	path string
	refs int
}

// tipgateBinary returns the path of the built tipgate binary, building it
// on first use. It is built without -race: the race detector is for the
// tests' own code, and a replica under it would only be slower.
func tipgateBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	sharedBin.mu.Lock()
	defer sharedBin.mu.Unlock()
	if sharedBin.path == "" {
		dir, err := os.MkdirTemp("", "tipgate-cluster-test-")
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "tipgate")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			_ = os.RemoveAll(dir)
			t.Fatalf("go build: %v\n%s", err, out)
		}
		sharedBin.dir, sharedBin.path = dir, bin
	}
	sharedBin.refs++
	t.Cleanup(func() {
		sharedBin.mu.Lock()
		defer sharedBin.mu.Unlock()
		if sharedBin.refs--; sharedBin.refs == 0 {
			_ = os.RemoveAll(sharedBin.dir)
			sharedBin.dir, sharedBin.path = "", ""
		}
	})
	return sharedBin.path
}

// tipServer is the simulator behind TLS with client certificates, like
// tipsim.Listen, with a gate in front of it: while the gate is closed the
// lookups it holds wait before reaching the simulator, so a test can hold
// TIP's answer until every caller it started is parked on a flight or a
// lock. Counting parked callers is exact where a delay would only be likely
// long enough.
type tipServer struct {
	sim   *tipsim.Sim
	url   string
	files tipsim.Files
	creds *tipsim.Credentials

	hold    func(*http.Request) bool // which lookups the gate holds; nil: none
	arrived atomic.Int64             // lookups the gate held (or holds)
	gate    chan struct{}
	opened  sync.Once
}

// holdAll makes the gate hold every lookup.
func holdAll(*http.Request) bool { return true }

// startTIP starts a simulator with its own credentials, written to files.
// The gate holds the lookups hold picks (none when nil) until Open. The
// server is closed when the test ends, ending any lookup it still holds.
func startTIP(t *testing.T, opts tipsim.Options, hold func(*http.Request) bool) *tipServer {
	t.Helper()
	creds, err := tipsim.NewCredentials(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files, err := creds.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts.Credentials, opts.RequireClientCert = creds, true
	s := &tipServer{sim: tipsim.New(opts), files: files, creds: creds, hold: hold, gate: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Requests derive from base, so closing the server also ends lookups
	// that the gate or a Hang fault holds.
	base, cancel := context.WithCancel(context.Background())
	sim := s.sim.Handler()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.hold != nil && strings.HasPrefix(r.URL.Path, "/api/") && s.hold(r) {
				s.arrived.Add(1)
				select {
				case <-s.gate:
				case <-r.Context().Done():
					panic(http.ErrAbortHandler)
				}
			}
			sim.ServeHTTP(w, r)
		}),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{creds.Server},
			ClientCAs:    creds.ClientCAs(),
			ClientAuth:   tls.RequireAndVerifyClientCert,
		},
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		// Callers that give up and replicas killed mid-request are part of
		// these tests; their TLS and connection errors are noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
		<-done
	})
	s.url = "https://" + ln.Addr().String()
	return s
}

// Open lets every held and later lookup through.
func (s *tipServer) Open() { s.opened.Do(func() { close(s.gate) }) }

// env is the environment that points tipgate at s with the API keys of
// keysFile: PATH, the TIP URL, its CA, the client PFX and the Basic
// credentials, the password given directly (see withPasswordFile).
func (s *tipServer) env(keysFile string) map[string]string {
	return map[string]string{
		"PATH":                     os.Getenv("PATH"),
		"TIPGATE_TIP_URL":          s.url,
		"TIPGATE_TIP_CA_FILE":      s.files.CA,
		"TIPGATE_TIP_PFX_FILE":     s.files.ClientPFX,
		"TIPGATE_TIP_PFX_PASSWORD": s.creds.PFXPassword,
		"TIPGATE_TIP_USERNAME":     s.creds.Username,
		"TIPGATE_TIP_PASSWORD":     s.creds.Password,
		"TIPGATE_API_KEYS_FILE":    keysFile,
	}
}

// withPasswordFile moves env's TIPGATE_TIP_PASSWORD into a file named by
// TIPGATE_TIP_PASSWORD_FILE, the container-secret form.
func withPasswordFile(t *testing.T, env map[string]string) {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "tip_password")
	if err := os.WriteFile(pwFile, []byte(env["TIPGATE_TIP_PASSWORD"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(env, "TIPGATE_TIP_PASSWORD")
	env["TIPGATE_TIP_PASSWORD_FILE"] = pwFile
}

// environ is env as a process environment.
func environ(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// writeKeys writes a keys file holding one key, named name, of the given
// SHA-256 hash, with role lookup.
func writeKeys(t *testing.T, path, name, hash string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(`{"keys":[{"name":"`+name+`","sha256":"`+hash+`","roles":["lookup"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fixture is one test's shared setup: the binary, an API key and its keys
// file, and for a cluster a Redis.
type fixture struct {
	t        *testing.T
	bin      string
	redis    *redistest.Server
	key      string
	keysFile string
	client   *http.Client
}

// newFixture takes a reference to the binary; call it before t.Parallel.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	bin := tipgateBinary(t)
	key, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	writeKeys(t, keysFile, "siem", apikey.Hash(key))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	c := &fixture{t: t, bin: bin, key: key, keysFile: keysFile,
		client: &http.Client{Transport: tr, Timeout: clusterWait}}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

// env is tip's environment (see tipServer.env) with the fixture's keys
// file, and the variables of set.
func (c *fixture) env(tip *tipServer, set map[string]string) map[string]string {
	env := tip.env(c.keysFile)
	for k, v := range set {
		env[k] = v
	}
	return env
}

// newCluster is newFixture, then t.Parallel, then withRedis.
func newCluster(t *testing.T) *fixture {
	t.Helper()
	c := newFixture(t)
	t.Parallel()
	return c.withRedis()
}

// withRedis gives the cluster its throwaway Redis; call it after
// t.Parallel, so that waiting tests hold no redis-server.
func (c *fixture) withRedis() *fixture {
	c.redis = redistest.New(c.t)
	return c
}

// replica is one running `tipgate serve`.
type replica struct {
	name   string
	base   string
	cmd    *exec.Cmd
	stderr *logbuf.Buffer
	done   chan struct{} // closed when the process has been waited for
	err    error         // the exit, once done is closed
}

// serve runs `tipgate` (serve, the command a bare binary runs, as the
// container and the peer benchmark start it) with env as its whole environment, plus a
// free TIPGATE_ADDR, and waits until it is healthy. The process is killed
// when the test ends if it still runs.
func (c *fixture) serve(name string, env map[string]string) *replica {
	t := c.t
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(c.bin)
	cmd.Env = append(environ(env), "TIPGATE_ADDR="+addr)
	r := &replica{name: name, base: "http://" + addr, cmd: cmd, stderr: &logbuf.Buffer{}, done: make(chan struct{})}
	// Read while the process writes to it, when a check fails early.
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("replica %s's log:\n%s", r.name, r.stderr.String())
		}
	})
	exited := make(chan error, 1)
	go func() {
		<-r.done
		exited <- r.err
	}()
	waitHealthy(t, r.base, exited, r.stderr)
	return r
}

// start runs a replica against tip on the cluster's Redis, with extra
// TIPGATE_* variables (NAME=value), and waits until it is healthy and
// ready.
func (c *fixture) start(name string, tip *tipServer, extra ...string) *replica {
	t := c.t
	t.Helper()
	env := c.env(tip, map[string]string{
		"TIPGATE_REDIS_URL": c.redis.URL(),
		// These tests count TIP requests: no start-up probe may add one.
		"TIPGATE_TIP_PROBE":        "false",
		"TIPGATE_SHUTDOWN_TIMEOUT": "5s",
		"TIPGATE_LOG_LEVEL":        "debug",
	})
	withPasswordFile(t, env)
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	r := c.serve(name, env)
	// Ready means the store answered a ping: the replica holds a Redis
	// connection before the test's first lookup needs one.
	eventually(t, "replica "+name+" ready with its store", func() (bool, error) {
		resp, err := c.client.Get(r.base + "/readyz")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var ready struct{ Status string }
		err = json.NewDecoder(resp.Body).Decode(&ready)
		return ready.Status == "ready", err
	})
	return r
}

// get asks r for path with the API key key, with http.DefaultClient. resp
// is nil when no answer came.
func (r *replica) get(path, key string) (resp *http.Response, body []byte, err error) {
	req, _ := http.NewRequest(http.MethodGet, r.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp, body, err
}

// kill ends the process at once (SIGKILL) and waits for it.
func (r *replica) kill() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// exited reports whether the process exits within d; its exit is then r.err.
func (r *replica) exited(d time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(d):
		return false
	}
}

// terminate asks the process to drain (SIGTERM) and reports whether it
// exited within d.
func (r *replica) terminate(d time.Duration) bool {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	return r.exited(d)
}

// stop asks the process to drain (SIGTERM) and waits for it to exit,
// killing it if it takes longer than its drain allows.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if !r.terminate(clusterWait) {
		r.kill()
		t.Errorf("replica %s still ran %v after SIGTERM", r.name, clusterWait)
	} else if r.err != nil {
		t.Errorf("replica %s exited after SIGTERM: %v", r.name, r.err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHealthy polls /healthz. If the process exits instead, it puts the exit
// back on exited for the caller's cleanup and fails the test.
func waitHealthy(t *testing.T, base string, exited chan error, stderr *logbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("tipgate exited at start: %v\n%s", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("tipgate not healthy within 15s\n%s", stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Logf("healthz: %v", err)
		}
	}
}

// eventually polls cond until it holds, failing the test after clusterWait.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last error: %v)", what, clusterWait, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
