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
			var wg sync.WaitGroup
			counts := make([]int, processes)
			errs := make([]error, processes)
			for i := range processes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmd := exec.Command(os.Args[0], "-test.run=^TestMultiProcessChild$", "-test.count=1", "-test.v")
					cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d,%d,%d", childEnv, name, alg, limit, burst, start))
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
			t.Logf("%d processes x %d goroutines x %d requests: admitted %v = %d", processes, perProcess, takesPerGoro, counts, total)
			if total != want {
				t.Fatalf("admitted %d in total, want exactly %d", total, want)
			}
		})
	}
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
