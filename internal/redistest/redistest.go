// Package redistest owns getting a real, isolated Redis for one test: a
// throwaway redis-server on a free loopback port, or a Redis named by
// TIPGATE_TEST_REDIS_URL, or as a last resort a private database of a local
// Redis on 127.0.0.1:6379; and, for the cluster and sentinel modes, a
// throwaway three-master Redis Cluster or a master with a sentinel.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tipgate/tipgate/internal/logbuf"
)

// EnvURL names a Redis to test against instead of starting one. Its
// database is flushed when a test starts, so point it at a Redis holding
// nothing of value, and do not share it between packages tested in parallel
// (go test -p 1).
const EnvURL = "TIPGATE_TEST_REDIS_URL"

const (
	readyTimeout = 5 * time.Second
	// startAttempts covers the small race between finding a free port and
	// redis-server binding it.
	startAttempts = 3
	// lockTTL bounds how long a crashed test run can keep a database of the
	// shared local Redis reserved.
	lockTTL    = 10 * time.Minute
	lockPrefix = "tipgate:redistest:db:"
)

// Server is one test's Redis.
type Server struct {
	t      testing.TB
	addr   string
	url    string
	client *redis.Client

	// Set only when this Server runs the redis-server process.
	bin  string
	dir  string
	port int

	mu      sync.Mutex
	cmd     *exec.Cmd
	paused  bool          // cmd is frozen by Pause
	exited  chan struct{} // closed when cmd has been waited for
	output  *logbuf.Buffer
	release func() // frees a database of the shared local Redis
}

type config struct {
	envURL       string
	lookPath     func(file string) (string, error)
	fallbackAddr string
}

// New returns a Redis that only this test uses, cleaned up when the test
// ends, whether it passes, fails or panics. Without TIPGATE_TEST_REDIS_URL
// it starts redis-server from PATH; when that is missing it uses a free
// database of a Redis answering on 127.0.0.1:6379; failing both the test
// fails, saying how to install Redis.
func New(t testing.TB) *Server {
	t.Helper()
	return newServer(t, config{
		envURL:       os.Getenv(EnvURL),
		lookPath:     exec.LookPath,
		fallbackAddr: "127.0.0.1:6379",
	})
}

func newServer(t testing.TB, cfg config) *Server {
	t.Helper()
	s := &Server{t: t}
	t.Cleanup(s.cleanup)

	if cfg.envURL != "" {
		s.useURL(cfg.envURL)
		return s
	}
	bin, err := cfg.lookPath("redis-server")
	if err == nil {
		s.own(bin)
		return s
	}
	if s.useShared(cfg.fallbackAddr) {
		return s
	}
	t.Fatalf("redistest: redis-server not found: install it (apt-get install redis-server), or set %s to a Redis that tests may flush", EnvURL)
	return nil
}

// Addr is the host:port (or socket path) of the Redis.
func (s *Server) Addr() string { return s.addr }

// URL is a redis:// URL of the test's database, for code that opens its own
// client.
func (s *Server) URL() string { return s.url }

// Client is a client of the test's database, closed when the test ends.
func (s *Server) Client() *redis.Client { return s.client }

// Stop kills the redis-server to simulate an outage; Start brings it back on
// the same port, empty. Both skip the test when the Server does not own its
// process.
func (s *Server) Stop() {
	s.t.Helper()
	if s.bin == "" {
		s.t.Skip("redistest: Stop needs a redis-server this test started; this Redis is shared")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
}

// Start restarts a stopped redis-server on the same port and waits until it
// answers PING. Starting a running server does nothing.
func (s *Server) Start() {
	s.t.Helper()
	if s.bin == "" {
		s.t.Skip("redistest: Start needs a redis-server this test started; this Redis is shared")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	if err := s.startProcess(); err != nil {
		s.t.Fatalf("redistest: restart redis-server on port %d: %v", s.port, err)
	}
}

// Pause freezes the redis-server with SIGSTOP to simulate a hung Redis: it
// keeps its port, its connections and its data, and answers nothing until
// Resume. Pausing a paused server does nothing. Like Stop it skips the test
// when the Server does not own its process: a Redis named by
// TIPGATE_TEST_REDIS_URL or the shared one on 127.0.0.1:6379 must never be
// frozen, other tests and people use it.
func (s *Server) Pause() {
	s.t.Helper()
	if s.bin == "" {
		s.t.Skip("redistest: Pause needs a redis-server this test started; this Redis is shared")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redistest: Pause: the redis-server on port %d is stopped", s.port)
	}
	if s.paused {
		return
	}
	if err := pauseProcess(s.cmd.Process); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			s.t.Skip("redistest: Pause is supported on Linux only")
		}
		s.t.Fatalf("redistest: pause redis-server on port %d: %v", s.port, err)
	}
	s.paused = true
}

// Resume lets a paused redis-server run again, with all it held. Resuming a
// running server does nothing; it skips the test as Pause does.
func (s *Server) Resume() {
	s.t.Helper()
	if s.bin == "" {
		s.t.Skip("redistest: Resume needs a redis-server this test started; this Redis is shared")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.paused {
		return
	}
	if err := resumeProcess(s.cmd.Process); err != nil {
		s.t.Fatalf("redistest: resume redis-server on port %d: %v", s.port, err)
	}
	s.paused = false
}

func (s *Server) useURL(raw string) {
	s.t.Helper()
	opts, err := redis.ParseURL(raw)
	if err != nil {
		s.t.Fatalf("redistest: %s is not a Redis URL go-redis can read: %v", EnvURL, err)
	}
	s.addr, s.url = opts.Addr, raw
	s.client = redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := s.client.FlushDB(ctx).Err(); err != nil {
		s.t.Fatalf("redistest: flush the Redis named by %s (at %s): %v", EnvURL, s.addr, err)
	}
}

func (s *Server) own(bin string) {
	s.t.Helper()
	s.bin, s.dir = bin, s.t.TempDir()
	var err error
	for range startAttempts {
		s.port, err = freePort()
		if err != nil {
			s.t.Fatalf("redistest: find a free loopback port: %v", err)
		}
		s.mu.Lock()
		err = s.startProcess()
		s.mu.Unlock()
		if err == nil {
			break
		}
	}
	if err != nil {
		s.t.Fatalf("redistest: start %s: %v", bin, err)
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.url = "redis://" + s.addr + "/0"
	s.client = redis.NewClient(&redis.Options{Addr: s.addr})
}

// useShared reserves a database of the Redis at addr, if one answers there,
// so that concurrent test processes do not flush each other's data.
func (s *Server) useShared(addr string) bool {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if ping(addr, 500*time.Millisecond) != nil {
		return false
	}
	token := randomToken()
	locks := redis.NewClient(&redis.Options{Addr: addr, DB: 0})
	for db := 1; db <= 15; db++ {
		lock := lockPrefix + strconv.Itoa(db)
		ok, err := locks.SetNX(ctx, lock, token, lockTTL).Result()
		if err != nil {
			_ = locks.Close()
			s.t.Fatalf("redistest: reserve a database of the Redis at %s: %v", addr, err)
		}
		if !ok {
			continue
		}
		client := redis.NewClient(&redis.Options{Addr: addr, DB: db})
		if err := client.FlushDB(ctx).Err(); err != nil {
			// Most likely fewer databases are configured; try no further.
			_ = client.Close()
			locks.Del(ctx, lock)
			break
		}
		s.addr, s.client = addr, client
		s.url = "redis://" + addr + "/" + strconv.Itoa(db)
		s.release = func() {
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			_ = client.FlushDB(ctx).Err()
			if v, _ := locks.Get(ctx, lock).Result(); v == token {
				locks.Del(ctx, lock)
			}
			_ = locks.Close()
		}
		s.t.Logf("redistest: redis-server is not on PATH; using database %d of the Redis at %s", db, addr)
		return true
	}
	_ = locks.Close()
	s.t.Fatalf("redistest: every database of the Redis at %s is in use by other tests; install redis-server (apt-get install redis-server) or set %s", addr, EnvURL)
	return false
}

// startProcess runs redis-server on s.port and waits for its PING; s.mu
// must be held.
func (s *Server) startProcess() error {
	out := &logbuf.Buffer{}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	cmd.Stdout, cmd.Stderr = out, out
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.output = cmd, exited, out

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("redis-server exited before answering PING: %s", tail(out))
		default:
		}
		err := ping(addr, 200*time.Millisecond)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("redis-server did not answer PING on %s within %v (last error: %v): %s", addr, readyTimeout, err, tail(out))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill stops the process and reaps it; s.mu must be held. A paused process
// is resumed first, so that no path (a failed kill included) can leave a
// frozen redis-server holding its port.
func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	if s.paused {
		_ = resumeProcess(s.cmd.Process)
		s.paused = false
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

func (s *Server) cleanup() {
	if s.release != nil {
		s.release() // uses s.client, so before closing it
	}
	if s.client != nil {
		_ = s.client.Close()
	}
	s.mu.Lock()
	s.kill()
	s.mu.Unlock()
}

// ping sends one inline PING and expects +PONG, without a client library,
// so that readiness does not depend on a pool's retry and backoff.
func ping(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("listener has no TCP address")
	}
	return addr.Port, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail is the end of a process's output, enough to show why redis-server
// stopped.
func tail(b *logbuf.Buffer) string {
	s := strings.TrimSpace(b.String())
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}
