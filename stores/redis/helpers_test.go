package haltredis_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	haltredis "github.com/halt-go/halt/stores/redis"
)

// Tests talk to the servers scripts/redis.sh starts (make test).

func standaloneAddr() string {
	if a := os.Getenv("HALT_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6390"
}

func clusterAddrs() []string {
	a := os.Getenv("HALT_REDIS_CLUSTER")
	if a == "" {
		a = "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
	}
	return strings.Split(a, ",")
}

// unavailable skips the test, loudly, or fails it under CI=true.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s unreachable (%v): run `make test` or `scripts/redis.sh start`", what, err)
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip("SKIPPING REDIS TEST: " + msg)
}

var (
	standaloneOnce sync.Once
	standaloneErr  error
	clusterOnce    sync.Once
	clusterErr     error
)

// standalone returns a client of the standalone server, or skips.
func standalone(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: standaloneAddr(), PoolSize: 32})
	standaloneOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		standaloneErr = c.Ping(ctx).Err()
	})
	if standaloneErr != nil {
		_ = c.Close()
		unavailable(t, "redis at "+standaloneAddr(), standaloneErr)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// cluster returns a client of the 3-node cluster, or skips.
func cluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: clusterAddrs()})
	clusterOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		clusterErr = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() })
		if clusterErr == nil {
			var info string
			info, clusterErr = c.ClusterInfo(ctx).Result()
			if clusterErr == nil && !strings.Contains(info, "cluster_state:ok") {
				clusterErr = fmt.Errorf("cluster state not ok")
			}
		}
	})
	if clusterErr != nil {
		_ = c.Close()
		unavailable(t, "redis cluster at "+strings.Join(clusterAddrs(), ","), clusterErr)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newStore(t testing.TB, c redis.UniversalClient, opts ...haltredis.Option) *haltredis.Store {
	t.Helper()
	s, err := haltredis.New(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// server is a redis-server a test starts (and kills) itself.
type server struct {
	t    testing.TB
	addr string
	dir  string
	args []string // more redis-server arguments (cluster mode…)
	cmd  *exec.Cmd
}

// freePort finds a loopback port nobody listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts a throwaway redis-server on a free port, or skips;
// args are more redis-server arguments.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unavailable(t, "redis-server binary", err)
	}
	s := &server{t: t, addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), dir: t.TempDir(), args: args}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *server) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "",
		"--appendonly", "no", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	s.cmd.Args = append(s.cmd.Args, s.args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not start: %v", s.addr, err)
		}
		time.Sleep(10 * time.Millisecond) // polling for the server, not timing logic
	}
}

// kill stops the server abruptly (SIGKILL) and waits for it.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// standaloneClientNoPing is a client for tests that need no server.
func standaloneClientNoPing() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: standaloneAddr()})
}
