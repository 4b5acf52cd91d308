package haltredis_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// testCluster is a Redis Cluster a test starts from redis-server processes
// on free loopback ports, and kills, itself.
type testCluster struct {
	t        testing.TB
	masters  []*server
	replicas []*server
}

// clusterNodeTimeout is the test clusters' cluster-node-timeout: how long
// a master may be silent before the others flag it failed (and a replica
// takes over).
const clusterNodeTimeout = 500 * time.Millisecond

// startCluster starts masters masters with replicas replicas each, joined
// with redis-cli --cluster create, and waits until every node is ready, or
// skips (fails with CI=true) when redis-server or redis-cli is missing.
// The cluster serves the slots of live masters while one is down
// (cluster-require-full-coverage no), as a Cluster must be configured for
// one dead master not to stop the others.
func startCluster(t testing.TB, masters, replicas int) *testCluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		unavailable(t, "redis-cli binary", err)
	}
	var all []*server
	for range masters * (1 + replicas) {
		all = append(all, startServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout/time.Millisecond)),
			"--cluster-require-full-coverage", "no", "--cluster-port", strconv.Itoa(freePort(t)),
			"--repl-diskless-sync-delay", "0"))
	}
	args := []string{"--cluster", "create"}
	for _, s := range all {
		args = append(args, s.addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c := &testCluster{t: t}
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range all {
		n := redis.NewClient(&redis.Options{Addr: s.addr})
		for {
			role, info, err := nodeReady(ctx, n, len(all))
			if err == nil && role != "" {
				if role == "master" {
					c.masters = append(c.masters, s)
				} else {
					c.replicas = append(c.replicas, s)
				}
				break
			}
			if time.Now().After(deadline) {
				_ = n.Close()
				t.Fatalf("cluster node %s not ready: %v\n%s", s.addr, err, info)
			}
			time.Sleep(20 * time.Millisecond) // polling for the cluster to form
		}
		_ = n.Close()
	}
	if len(c.masters) != masters {
		t.Fatalf("%d masters, want %d", len(c.masters), masters)
	}
	return c
}

// nodeReady returns the node's role once it sees a healthy cluster of n
// nodes (and, for a replica, a live link to its master), or "".
func nodeReady(ctx context.Context, c *redis.Client, n int) (role, info string, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if info, err = c.ClusterInfo(ctx).Result(); err != nil {
		return "", "", err
	}
	if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d\r", n)) {
		return "", info, nil
	}
	repl, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return "", "", err
	}
	switch {
	case strings.Contains(repl, "role:master"):
		return "master", info, nil
	case strings.Contains(repl, "master_link_status:up"):
		return "replica", info, nil
	}
	return "", repl, nil
}

func (c *testCluster) addrs() []string {
	var a []string
	for _, s := range append(append([]*server(nil), c.masters...), c.replicas...) {
		a = append(a, s.addr)
	}
	return a
}

// nodeNotices records the store's notices with the node they name.
type nodeNotices struct {
	halt.NopTelemetry
	mu   sync.Mutex
	seen []string
}

func (n *nodeNotices) OnNotice(_ context.Context, x halt.Notice) {
	node := ""
	for _, a := range x.Attrs {
		if a.Key == "node" {
			node = a.Value.String()
		}
	}
	n.mu.Lock()
	n.seen = append(n.seen, string(x.Kind)+" "+node)
	n.mu.Unlock()
}

func (n *nodeNotices) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.seen...)
}

// TestClusterNodeDown SIGKILLs one master of a 3-master Redis Cluster
// under load: a hot key on a live master stays limited to exactly its
// burst, every one of its decisions made by Redis; only the dead master's
// keys follow the failure mode (fail open here: admitted, reported as store
// errors); and those keys come back by themselves, after a replica is
// promoted (Failover) or the master restarts empty (Restart). Pause
// freezes the master (SIGSTOP) instead, and resumes it (SIGCONT).
func TestClusterNodeDown(t *testing.T) {
	for _, fault := range []string{"Failover", "Restart", "Pause"} {
		t.Run(fault, func(t *testing.T) { testClusterNodeDown(t, fault) })
	}
}

func testClusterNodeDown(t *testing.T, fault string) {
	failover := fault == "Failover"
	replicas := 0
	if failover {
		replicas = 1
	}
	cl := startCluster(t, 3, replicas)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.addrs(), ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = cc.Close() })
	// No over-limit cache: every decision of the hot key is a round trip,
	// so each one is Redis's (or the failure mode's).
	s := newStore(t, cc, haltredis.WithProbeInterval(20*time.Millisecond), haltredis.WithOverLimitCache(0),
		haltredis.WithLogger(quietLogger()))
	const burst = 20
	p := halt.Policy{Name: "hot", Limit: burst, Window: time.Hour}
	tel := &nodeNotices{}
	l, err := halt.New(s, p, halt.WithFailureMode(halt.FailOpen), halt.WithTelemetry(tel))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// A client key on the first master (hot) and one on the second (the
	// victim's).
	victim := cl.masters[1]
	reqOn := func(addr string) *halttest.FakeRequest {
		t.Helper()
		for i := range 10000 {
			r := &halttest.FakeRequest{Peer: fmt.Sprintf("198.51.%d.%d:4242", i/250, i%250+1)}
			n, err := cc.MasterForKey(ctx, l.Key(r))
			if err != nil {
				t.Fatal(err)
			}
			if n.Options().Addr == addr {
				return r
			}
		}
		t.Fatalf("no key on %s", addr)
		return nil
	}
	hotReq, victimReq := reqOn(cl.masters[0].addr), reqOn(victim.addr)
	for _, r := range []*halttest.FakeRequest{hotReq, victimReq} {
		if d, err := l.Check(ctx, r); err != nil || !d.Allowed || d.Remaining != burst-1 {
			t.Fatalf("before the kill, %s: %+v, %v", l.Key(r), d, err)
		}
	}

	var (
		stop                      atomic.Bool
		hotAdmitted, hotErrs      atomic.Int64
		hotDecided                atomic.Int64
		victimFailed, victimFromR atomic.Int64
		wg                        sync.WaitGroup
	)
	hotAdmitted.Store(1)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				d, err := l.Check(ctx, hotReq)
				hotDecided.Add(1)
				switch {
				case err != nil || d.Reason == halt.ReasonStoreError:
					if hotErrs.Add(1) <= 3 {
						t.Errorf("hot key on a live master: %v, %v", d.Reason, err)
					}
				case d.Allowed:
					hotAdmitted.Add(1)
				}
				time.Sleep(500 * time.Microsecond) // pacing the load
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				d, err := l.Check(ctx, victimReq)
				switch {
				case err == nil:
					victimFromR.Add(1)
				case errors.Is(err, halt.ErrStoreUnavailable) && d.Allowed && d.Reason == halt.ReasonStoreError:
					victimFailed.Add(1) // fail open
				default:
					t.Errorf("victim key: %+v, %v; want a decision or fail open", d, err)
				}
				time.Sleep(500 * time.Microsecond) // pacing the load
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()

	// Some load with every master up, then the victim's master dies.
	for victimFromR.Load() < 20 {
		time.Sleep(time.Millisecond) // polling for load
	}
	if fault == "Pause" {
		if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = victim.cmd.Process.Signal(syscall.SIGCONT) }()
	} else {
		victim.kill()
	}
	killed := time.Now()
	for victimFailed.Load() == 0 || !s.Down() {
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("10s after the kill: down %v, %d fail-open answers", s.Down(), victimFailed.Load())
		}
		time.Sleep(time.Millisecond) // polling for the switch
	}
	t.Logf("victim's keys down %v after the kill", time.Since(killed).Round(time.Millisecond))
	if failover {
		// Keep the load on until a replica takes over (cluster-node-timeout
		// and an election).
	} else {
		// Keep the load on for a while, then restart the master, empty.
		for h := hotDecided.Load(); victimFailed.Load() < 200 || hotDecided.Load() < h+200; {
			time.Sleep(time.Millisecond) // polling for load
		}
		if fault == "Pause" {
			if err := victim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		} else {
			victim.start()
		}
	}
	back := victimFromR.Load()
	for victimFromR.Load() < back+20 {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("the victim's keys did not come back within 30s (down: %v)", s.Down())
		}
		time.Sleep(time.Millisecond) // polling for the failover or restart
	}
	t.Logf("victim's keys back %v after the kill: %d fail-open answers meanwhile; %d decisions of the hot key",
		time.Since(killed).Round(time.Millisecond), victimFailed.Load(), hotDecided.Load())
	stop.Store(true)
	wg.Wait()

	if n, e := hotAdmitted.Load(), hotErrs.Load(); n != burst || e != 0 {
		t.Fatalf("hot key on a live master: %d admitted, %d store errors; want exactly %d, 0", n, e, burst)
	}
	if s.Down() {
		t.Fatal("the store still counts a node down")
	}
	d, err := l.Check(ctx, victimReq)
	if err != nil || d.Reason == halt.ReasonStoreError {
		t.Fatalf("victim key after recovery: %+v, %v", d, err)
	}
	if got := tel.all(); len(got) != 2 || got[0] != "store_down "+victim.addr || got[1] != "store_up "+victim.addr {
		t.Fatalf("notices %q, want store_down and store_up for %s only", got, victim.addr)
	}
}

// TestClusterLayoutUnknown starts a store whose Cluster client knows one
// seed node, while that seed and another master are dead: no key's master
// is known, so every key follows the failure mode. When the seed comes back
// the layout is known again, and keys on live masters are decided by Redis
// at once (exactly: limited to their burst) while the other master stays
// dead; the recovery does not wait for every master.
func TestClusterLayoutUnknown(t *testing.T) {
	cl := startCluster(t, 3, 0)
	seed, dead, live := cl.masters[0], cl.masters[1], cl.masters[2]
	probe := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.addrs()})
	t.Cleanup(func() { _ = probe.Close() })
	ctx := context.Background()
	p := halt.Policy{Name: "seed", Limit: 5, Window: time.Hour}
	var req *halttest.FakeRequest
	for i := 0; req == nil; i++ {
		r := &halttest.FakeRequest{Peer: fmt.Sprintf("198.51.100.%d:4242", i+1)}
		n, err := probe.MasterForKey(ctx, "halt:seed:{ip:"+strings.TrimSuffix(r.Peer, ":4242")+"}")
		if err != nil {
			t.Fatal(err)
		}
		if n.Options().Addr == live.addr {
			req = r
		}
	}
	dead.kill()
	seed.kill()

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{seed.addr}, ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = cc.Close() })
	s := newStore(t, cc, haltredis.WithProbeInterval(20*time.Millisecond), haltredis.WithOverLimitCache(0),
		haltredis.WithLogger(quietLogger()))
	l, err := halt.New(s, p, halt.WithFailureMode(halt.FailOpen), halt.WithTelemetry(&halt.NopTelemetry{}))
	if err != nil {
		t.Fatal(err)
	}
	if l.Key(req) != "halt:seed:{ip:"+strings.TrimSuffix(req.Peer, ":4242")+"}" {
		t.Fatalf("the limiter's key is %q", l.Key(req))
	}
	for deadline := time.Now().Add(5 * time.Second); !s.Down(); {
		if d, err := l.Check(ctx, req); err == nil || !d.Allowed || d.Reason != halt.ReasonStoreError {
			t.Fatalf("with the layout unknown: %+v, %v; want fail open", d, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the store did not switch to its failure mode")
		}
	}

	seed.start()
	restarted := time.Now()
	admitted := int64(0)
	for i := int64(0); i < 3*p.Limit; {
		d, err := l.Check(ctx, req)
		if err != nil {
			if time.Since(restarted) > 10*time.Second {
				t.Fatalf("10s after the seed came back, the live master's key still fails: %v", err)
			}
			time.Sleep(5 * time.Millisecond) // polling for the probe
			continue
		}
		i++
		if d.Allowed {
			admitted++
		}
	}
	if admitted != p.Limit {
		t.Fatalf("admitted %d of %d on a live master, want exactly %d", admitted, 3*p.Limit, p.Limit)
	}
	t.Logf("the live master's key decided by Redis %v after the seed came back", time.Since(restarted).Round(time.Millisecond))
}
