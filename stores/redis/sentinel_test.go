package haltredis_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// sentinelMaster is the name the test sentinels monitor.
const sentinelMaster = "halt-test"

// sentinelSetup is a master, its replica and a redis-sentinel watching
// them, started by the test on free loopback ports.
type sentinelSetup struct {
	master, replica *server
	sentinel        string // its address
}

// startSentinel starts a master, a replica and one redis-sentinel (quorum
// 1) with short timeouts (down after 500ms, failover timeout 2s), and waits
// until the sentinel knows the replica; it skips (fails with CI=true) when
// redis-sentinel is missing.
func startSentinel(t *testing.T) *sentinelSetup {
	t.Helper()
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		unavailable(t, "redis-sentinel binary (Debian package redis-sentinel)", err)
	}
	m := startServer(t, "--repl-diskless-sync-delay", "0")
	mhost, mport, _ := strings.Cut(m.addr, ":")
	r := startServer(t, "--replicaof", mhost, mport)
	st := &sentinelSetup{master: m, replica: r}
	ctx := context.Background()
	// The replica in sync first, so that the sentinel's first look at the
	// master finds it.
	rc := redis.NewClient(&redis.Options{Addr: r.addr})
	defer rc.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		info, err := rc.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica is not in sync: %v\n%s", err, info)
		}
		time.Sleep(10 * time.Millisecond) // polling for the replica
	}

	dir := t.TempDir()
	port := freePort(t)
	st.sentinel = "127.0.0.1:" + strconv.Itoa(port)
	conf := filepath.Join(dir, "sentinel.conf")
	cfg := fmt.Sprintf(`bind 127.0.0.1
port %d
dir %s
logfile %s
sentinel monitor %s %s %s 1
sentinel down-after-milliseconds %s 500
sentinel failover-timeout %s 2000
`, port, dir, filepath.Join(dir, "sentinel.log"), sentinelMaster, mhost, mport, sentinelMaster, sentinelMaster)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	sc := redis.NewSentinelClient(&redis.Options{Addr: st.sentinel})
	defer sc.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		reps, err := sc.Replicas(ctx, sentinelMaster).Result()
		if err == nil && len(reps) == 1 && reps[0]["flags"] == "slave" && reps[0]["master-link-status"] == "ok" {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			t.Fatalf("the sentinel does not see the replica: %v, %v\n%s", reps, err, log)
		}
		time.Sleep(20 * time.Millisecond) // polling for the sentinel
	}
	return st
}

// TestSentinelFailover runs a store through go-redis's failover client
// (redis.NewFailoverClient) on a master and replica under redis-sentinel,
// and fails the master over: by killing it (SIGKILL; the sentinel notices
// after 500ms) and by SENTINEL FAILOVER. The store keeps deciding on the
// promoted replica by itself, with the key's count replicated to it; while
// no master answers, the failure mode (fail closed here) decides.
func TestSentinelFailover(t *testing.T) {
	t.Run("KillMaster", func(t *testing.T) { testSentinelFailover(t, true) })
	t.Run("SentinelFailover", func(t *testing.T) { testSentinelFailover(t, false) })
}

func testSentinelFailover(t *testing.T, kill bool) {
	st := startSentinel(t)
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: sentinelMaster,
		SentinelAddrs: []string{st.sentinel}, ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c, haltredis.WithProbeInterval(20*time.Millisecond), haltredis.WithOverLimitCache(0),
		haltredis.WithLogger(quietLogger()))
	const limit = 20
	p := halt.Policy{Name: "sentinel", Limit: limit, Window: time.Hour}
	tel := &notices{}
	l, err := halt.New(s, p, halt.WithFailureMode(halt.FailClosed), halt.WithTelemetry(tel))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := &halttest.FakeRequest{Peer: "203.0.113.90:4242"}
	for i := range 5 {
		if d, err := l.Check(ctx, req); err != nil || !d.Allowed || d.Remaining != int64(limit-1-i) {
			t.Fatalf("check %d before the failover: %+v, %v", i, d, err)
		}
	}
	// The replica has the count before the master goes (replication is
	// asynchronous: what the master took after this may be lost with it).
	mc := redis.NewClient(&redis.Options{Addr: st.master.addr})
	defer mc.Close()
	if n, err := mc.Do(ctx, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d, %v", n, err)
	}

	rc := redis.NewClient(&redis.Options{Addr: st.replica.addr})
	defer rc.Close()
	role := func(c *redis.Client) string {
		r, err := c.Do(ctx, "ROLE").Slice()
		if err != nil || len(r) == 0 {
			return fmt.Sprint(err)
		}
		return fmt.Sprint(r[0])
	}

	began := time.Now()
	var admitted, failed int64
	check := func(req *halttest.FakeRequest) (halt.Decision, error) {
		t.Helper()
		d, err := l.Check(ctx, req)
		switch {
		case err != nil && (d.Allowed || d.Reason != halt.ReasonStoreError):
			t.Fatalf("during the failover: %+v, %v; want fail closed", d, err)
		case err != nil:
			failed++
		case d.Allowed:
			admitted++
		}
		if time.Since(began) > 30*time.Second {
			t.Fatalf("30s after the failover began: %d admitted, %d failed closed, the replica is %s", admitted, failed, role(rc))
		}
		time.Sleep(time.Millisecond) // pacing the requests
		return d, err
	}
	if kill {
		// The master dies: nothing is decided until the sentinel promotes
		// the replica, which has the key's count.
		st.master.kill()
		for {
			if d, _ := check(req); d.Reason == halt.ReasonLimited {
				break
			}
		}
		if admitted != limit-5 {
			t.Fatalf("admitted %d after the master died, want the %d left on the promoted replica", admitted, limit-5)
		}
	} else {
		// The sentinel promotes the replica and turns the master into its
		// replica, while requests go on (what the old master counts after
		// the promotion is lost with its data: Redis replication is
		// asynchronous).
		sc := redis.NewSentinelClient(&redis.Options{Addr: st.sentinel})
		defer sc.Close()
		if err := sc.Failover(ctx, sentinelMaster).Err(); err != nil {
			t.Fatal(err)
		}
		_, rport, _ := strings.Cut(st.replica.addr, ":")
		for role(rc) != "master" {
			_, _ = check(req)
		}
		t.Logf("promoted in %v", time.Since(began).Round(time.Millisecond))
		for {
			// The node the failover client uses.
			port, err := c.ConfigGet(ctx, "port").Result()
			if err == nil && port["port"] == rport {
				break
			}
			_, _ = check(req)
		}
	}
	t.Logf("failed over in %v (%d requests failed closed meanwhile)", time.Since(began).Round(time.Millisecond), failed)

	// A fresh key is decided on the promoted replica, exactly.
	fresh := &halttest.FakeRequest{Peer: "203.0.113.91:4242"}
	admitted = 0
	for {
		if d, err := check(fresh); err == nil && d.Reason == halt.ReasonLimited {
			break
		}
	}
	if admitted != limit {
		t.Fatalf("a fresh key: admitted %d, want %d", admitted, limit)
	}
	if n, err := rc.Exists(ctx, l.Key(fresh)).Result(); err != nil || n != 1 {
		t.Fatalf("the fresh key is not on the promoted replica: %d, %v", n, err)
	}
	if s.Down() {
		t.Fatal("the store still counts Redis down")
	}
	t.Logf("notices: %q", tel.seen())
}
