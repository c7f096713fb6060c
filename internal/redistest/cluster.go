package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tipgate/tipgate/internal/logbuf"
)

// EnvRequireCluster, set to 1, turns the skip of a cluster or sentinel test
// that lacks redis-server, redis-cli or sentinel mode into a failure, so that
// CI with Redis installed cannot silently stop testing the modes.
const EnvRequireCluster = "TIPGATE_REQUIRE_REDIS_CLUSTER"

const (
	// clusterNodes is the smallest cluster redis-cli agrees to create.
	clusterNodes = 3
	// busOffset is where Redis puts a node's cluster bus: its port + 10000.
	busOffset = 10000
	// clusterTimeout bounds creating the cluster and waiting for it to
	// agree that every slot is served.
	clusterTimeout = 15 * time.Second
	// SentinelMaster is the name the sentinel of NewSentinel monitors its
	// master under.
	SentinelMaster = "tipgate"
)

// Cluster is a throwaway Redis Cluster of three masters without replicas,
// on loopback, for one test.
type Cluster struct {
	addrs  []string
	client *redis.ClusterClient
}

// NewCluster starts three redis-server nodes in cluster mode on free
// loopback ports (whose bus ports, +10000, are free too), joins them with
// `redis-cli --cluster create` and waits until every node reports
// cluster_state:ok. Everything stops when the test ends. Without
// redis-server or redis-cli the test is skipped, or fails when
// TIPGATE_REQUIRE_REDIS_CLUSTER=1.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := lookOrSkip(t, "redis-server")
	cli := lookOrSkip(t, "redis-cli")
	dir := t.TempDir()
	c := &Cluster{}
	for range clusterNodes {
		p := startNode(t, bin, func(port int) []string {
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf"),
				"--cluster-node-timeout", "5000",
				"--dir", dir,
			}
		}, clusterPort)
		c.addrs = append(c.addrs, p.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create %s: %v: %s", strings.Join(c.addrs, " "), err, lastLines(string(out)))
	}
	for _, addr := range c.addrs {
		waitClusterOK(ctx, t, addr)
	}
	c.client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.addrs})
	t.Cleanup(func() { _ = c.client.Close() })
	return c
}

// Addrs are the nodes' host:port.
func (c *Cluster) Addrs() []string { return c.addrs }

// URL is the cluster in go-redis' ParseClusterURL form: the first node as
// the host, the others as addr= (TIPGATE_REDIS_MODE=cluster).
func (c *Cluster) URL() string {
	q := url.Values{"addr": c.addrs[1:]}
	return "redis://" + c.addrs[0] + "?" + q.Encode()
}

// Client is a cluster client, closed when the test ends.
func (c *Cluster) Client() *redis.ClusterClient { return c.client }

// Sentinel is one throwaway master and one sentinel monitoring it under
// SentinelMaster.
type Sentinel struct {
	master   string
	sentinel string
	client   *redis.Client
}

// NewSentinel starts a redis-server and a redis-server in sentinel mode
// that monitors it, and waits until the sentinel names it as the master.
// Everything stops when the test ends. Without redis-server, or when it has
// no sentinel mode, the test is skipped, or fails when
// TIPGATE_REQUIRE_REDIS_CLUSTER=1.
func NewSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := lookOrSkip(t, "redis-server")
	dir := t.TempDir()
	master := startNode(t, bin, func(int) []string { return []string{"--dir", dir} }, freePort)
	_, masterPort, _ := net.SplitHostPort(master.addr)
	var sentinel *node
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: find a free loopback port: %v", err)
		}
		// Sentinel rewrites its configuration file, so it must be its own.
		conf := filepath.Join(dir, "sentinel-"+strconv.Itoa(port)+".conf")
		text := strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"daemonize no",
			`logfile ""`,
			"dir " + dir,
			"sentinel monitor " + SentinelMaster + " 127.0.0.1 " + masterPort + " 1",
			// No failover during a test: the master is never down on purpose.
			"sentinel down-after-milliseconds " + SentinelMaster + " 60000",
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatalf("redistest: write %s: %v", conf, err)
		}
		sentinel, err = startProc(bin, port, conf, "--sentinel")
		if err == nil {
			break
		}
		if attempt == startAttempts {
			// A redis-server built without sentinel mode exits at once;
			// so does one whose port was taken thrice, which is unlikely.
			unavailable(t, "redistest: %s --sentinel did not start: %v", bin, err)
		}
	}
	t.Cleanup(sentinel.stop)
	s := &Sentinel{master: master.addr, sentinel: sentinel.addr}

	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.addr})
	defer sc.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		got, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		cancel()
		if err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == master.addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the sentinel at %s does not name %s as master %q within %v (got %v, %v)", sentinel.addr, master.addr, SentinelMaster, readyTimeout, got, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.client = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster, SentinelAddrs: []string{sentinel.addr}})
	t.Cleanup(func() { _ = s.client.Close() })
	return s
}

// MasterAddr is the master's host:port.
func (s *Sentinel) MasterAddr() string { return s.master }

// SentinelAddr is the sentinel's host:port.
func (s *Sentinel) SentinelAddr() string { return s.sentinel }

// URL is the sentinel setup in go-redis' ParseFailoverURL form, database 0
// (TIPGATE_REDIS_MODE=sentinel).
func (s *Sentinel) URL() string {
	return "redis://" + s.sentinel + "/0?master_name=" + SentinelMaster
}

// Client is a failover client of the master, closed when the test ends.
func (s *Sentinel) Client() *redis.Client { return s.client }

// node is one redis-server process of a cluster or sentinel setup.
type node struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
	output *logbuf.Buffer
}

// startNode starts a redis-server with args(port) on a port from pick,
// trying again on another port when the first was taken meanwhile, and
// stops it when the test ends.
func startNode(t testing.TB, bin string, args func(port int) []string, pick func() (int, error)) *node {
	t.Helper()
	var err error
	for range startAttempts {
		var port int
		if port, err = pick(); err != nil {
			t.Fatalf("redistest: find a free loopback port: %v", err)
		}
		base := []string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--logfile", "",
		}
		var n *node
		if n, err = startProc(bin, port, append(base, args(port)...)...); err == nil {
			t.Cleanup(n.stop)
			return n
		}
	}
	t.Fatalf("redistest: start %s: %v", bin, err)
	return nil
}

// startProc runs bin with args, expecting it to serve PING on port.
func startProc(bin string, port int, args ...string) (*node, error) {
	out := &logbuf.Buffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &node{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, exited: make(chan struct{}), output: out}
	go func() {
		_ = cmd.Wait()
		close(n.exited)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-n.exited:
			return nil, fmt.Errorf("%s exited before answering PING: %s", bin, tail(out))
		default:
		}
		err := ping(n.addr, 200*time.Millisecond)
		if err == nil {
			return n, nil
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("%s did not answer PING on %s within %v (last error: %v): %s", bin, n.addr, readyTimeout, err, tail(out))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the process and reaps it; stopping twice does nothing.
func (n *node) stop() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// clusterPort is a free loopback port whose cluster bus port is free too.
func clusterPort() (int, error) {
	for range 100 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		if port+busOffset > 65535 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+busOffset)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, errors.New("no free port whose +10000 bus port is free too")
}

// waitClusterOK waits until the node at addr reports cluster_state:ok.
func waitClusterOK(ctx context.Context, t testing.TB, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: the cluster node at %s is not ok within %v: %v %s", addr, clusterTimeout, err, lastLines(info))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lookOrSkip finds a program on PATH, or reports it unavailable.
func lookOrSkip(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		unavailable(t, "redistest: %s not found on PATH (apt-get install redis-server redis-tools)", name)
	}
	return bin
}

// unavailable skips the test, or fails it when TIPGATE_REQUIRE_REDIS_CLUSTER=1.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(EnvRequireCluster) == "1" {
		t.Fatalf(format+" (and %s=1)", append(args, EnvRequireCluster)...)
	}
	t.Skipf(format, args...)
}

// lastLines is the end of a command's output, enough to say what failed.
func lastLines(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1500 {
		s = "…" + s[len(s)-1500:]
	}
	return s
}
