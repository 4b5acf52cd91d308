package haltredis_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

const (
	childEnv     = "HALT_REDIS_TEST_CHILD" // "policy,algorithm,limit,burst,startUnixNano"
	processes    = 4
	perProcess   = 64 // concurrent requests in each process
	takesPerGoro = 4
)

// TestMultiProcess: several OS processes, each with its own store and 64
// goroutines, hammer one key through one Redis; together they admit exactly
// the burst (the token bucket's capacity, the windows' limit), for every
// algorithm.
func TestMultiProcess(t *testing.T) {
	standalone(t)
	for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
		t.Run(alg.String(), func(t *testing.T) {
			name := fmt.Sprintf("multiproc-%s-%d", alg, time.Now().UnixNano())
			limit, burst, want := 100, 0, 100
			if alg == halt.TokenBucket {
				limit, burst = 10, 100 // 10 per window, bursts of 100
			}
			start := time.Now().Add(300 * time.Millisecond).UnixNano() // all processes start together
			counts, total := runChildren(t, "TestMultiProcessChild",
				fmt.Sprintf("%s=%s,%d,%d,%d,%d", childEnv, name, alg, limit, burst, start))
			t.Logf("%d processes x %d goroutines x %d requests: admitted %v = %d", processes, perProcess, takesPerGoro, counts, total)
			if total != want {
				t.Fatalf("admitted %d in total, want exactly %d", total, want)
			}
		})
	}
}

// runChildren runs the test binary's test named child in processes
// processes at once, with env added to their environment, and returns how
// many each reported admitted, and their sum.
func runChildren(t *testing.T, child, env string) ([]int, int) {
	t.Helper()
	var wg sync.WaitGroup
	counts := make([]int, processes)
	errs := make([]error, processes)
	for i := range processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), env)
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("child %d: %w\n%s", i, err, out)
				return
			}
			counts[i], errs[i] = parseAdmitted(out)
		}()
	}
	wg.Wait()
	total := 0
	for i := range processes {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		total += counts[i]
	}
	return counts, total
}

func parseAdmitted(out []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ADMITTED "); ok {
			return strconv.Atoi(rest)
		}
	}
	return 0, fmt.Errorf("no ADMITTED line in child output:\n%s", out)
}

// TestMultiProcessChild is the body of one child process of TestMultiProcess.
func TestMultiProcessChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("runs as a child of TestMultiProcess")
	}
	f := strings.Split(spec, ",")
	alg, _ := strconv.Atoi(f[1])
	limit, _ := strconv.ParseInt(f[2], 10, 64)
	burst, _ := strconv.ParseInt(f[3], 10, 64)
	startNs, _ := strconv.ParseInt(f[4], 10, 64)
	// Server clock (the default); the window is far longer than the test.
	p := halt.Policy{Name: f[0], Limit: limit, Burst: burst, Window: 1000 * time.Hour, Algorithm: halt.Algorithm(alg)}
	c := redis.NewClient(&redis.Options{Addr: standaloneAddr(), PoolSize: 32})
	defer c.Close()
	s, err := haltredis.New(c, haltredis.WithTimeout(10*time.Second), haltredis.WithPrefix(runPrefixFor(f[0])))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := []byte("halt:" + p.Name + ":{ip:203.0.113.50}")
	time.Sleep(time.Until(time.Unix(0, startNs))) // line the processes up; no time logic depends on it
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range perProcess {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range takesPerGoro {
				r, err := s.Take(context.Background(), key, &p, time.Now(), 1)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("ADMITTED %d\n", admitted.Load())
}

// runPrefixFor gives the processes of one test the same key prefix.
func runPrefixFor(name string) string { return "mp:" + name + ":" }

const takeAllChildEnv = "HALT_REDIS_TEST_TAKEALL_CHILD" // "standalone|cluster,name,startUnixNano"

// TestMultiProcessTakeAll: 4 OS processes, each with its own store and 64
// goroutines calling TakeAll 4 times on three policies of one client
// (halttest.MultiPolicies: a token bucket of 10, one of 30 and a fixed
// window of 20), against one server and against the Cluster: together they
// admit exactly 10, the tightest policy's allowance, and the looser
// policies were charged exactly those 10: the rejections consumed nothing.
func TestMultiProcessTakeAll(t *testing.T) {
	clients := map[string]func(testing.TB) redis.UniversalClient{
		"standalone": func(t testing.TB) redis.UniversalClient { return standalone(t) },
		"cluster":    func(t testing.TB) redis.UniversalClient { return cluster(t) },
	}
	for _, mode := range []string{"standalone", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			c := clients[mode](t)
			name := fmt.Sprintf("mptakeall-%s-%d", mode, time.Now().UnixNano())
			start := time.Now().Add(300 * time.Millisecond).UnixNano()
			counts, total := runChildren(t, "TestMultiProcessTakeAllChild",
				fmt.Sprintf("%s=%s,%s,%d", takeAllChildEnv, mode, name, start))
			t.Logf("%d processes x %d goroutines x %d TakeAll: admitted %v = %d", processes, perProcess, takesPerGoro, counts, total)
			if total != 10 {
				t.Fatalf("admitted %d in total, want exactly 10 (the tightest policy)", total)
			}
			s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(runPrefixFor(name)))
			ps, keys := halttest.MultiPolicies(name)
			for i, want := range []int64{0, 20, 10} {
				r, err := s.Peek(context.Background(), keys[i], ps[i], halttest.Base, 1)
				if err != nil || r.Remaining != want {
					t.Fatalf("%s after the run: %+v, %v; want %d remaining", ps[i].Name, r, err, want)
				}
			}
		})
	}
}

// TestMultiProcessTakeAllChild is the body of one child process of
// TestMultiProcessTakeAll.
func TestMultiProcessTakeAllChild(t *testing.T) {
	spec := os.Getenv(takeAllChildEnv)
	if spec == "" {
		t.Skip("runs as a child of TestMultiProcessTakeAll")
	}
	s, f := childStore(t, spec)
	fmt.Printf("ADMITTED %d\n", halttest.RunMultiTakeAll(t, s, f[1], perProcess, takesPerGoro))
}

// childStore is the store of a child process whose spec is
// "<standalone|cluster>,<run name>,<start ns>[,...]", and the spec's fields.
// It returns at the start instant, so the processes begin together. The
// store decides by the caller's clock: the suite's policies and quotas
// decide at fixed instants (halttest.Base, halttest.QuotaBase).
func childStore(t *testing.T, spec string) (*haltredis.Store, []string) {
	f := strings.Split(spec, ",")
	startNs, _ := strconv.ParseInt(f[2], 10, 64)
	var c redis.UniversalClient
	if f[0] == "cluster" {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: clusterAddrs(), PoolSize: 32})
	} else {
		c = redis.NewClient(&redis.Options{Addr: standaloneAddr(), PoolSize: 32})
	}
	t.Cleanup(func() { _ = c.Close() })
	s, err := haltredis.New(c, haltredis.WithCallerClock(), haltredis.WithTimeout(10*time.Second),
		haltredis.WithPrefix(runPrefixFor(f[1])))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	time.Sleep(time.Until(time.Unix(0, startNs))) // line the processes up; no time logic depends on it
	return s, f
}
