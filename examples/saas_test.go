package examples_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

type saasLimits struct {
	Plan     string `json:"plan"`
	Policies []struct {
		Name      string `json:"name"`
		Limit     int64  `json:"limit"`
		Remaining int64  `json:"remaining"`
		Reset     int64  `json:"reset"`
	} `json:"policies"`
	Quota struct {
		Limit, Used, Remaining int64
		ResetsAt               string `json:"resets_at"`
	} `json:"quota"`
	Penalty struct {
		Active     bool    `json:"active"`
		Score      float64 `json:"score"`
		Until      *string `json:"until"`
		Multiplier float64 `json:"multiplier"`
	} `json:"penalty"`
}

func saasCall(t *testing.T, method, url, key, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, strings.TrimSpace(string(b))}
}

func saasLimitsOf(t *testing.T, base, key string) saasLimits {
	t.Helper()
	r := saasCall(t, "GET", base+"/v1/limits", key, "")
	var l saasLimits
	if err := json.Unmarshal([]byte(r.body), &l); r.status != 200 || err != nil {
		t.Fatalf("/v1/limits: %d %s %v", r.status, r.body, err)
	}
	return l
}

// TestSaaSExample builds examples/saas and drives it as the issue says:
// trial-demo runs into its daily quota, free-demo into its rate limit
// (spending no quota), then into a penalty that halves its limit.
func TestSaaSExample(t *testing.T) {
	driveSaaS(t, start(t, buildSaaS(t)))
}

// TestSaaSExampleOnRedis drives examples/saas the same way on Redis
// (HALT_REDIS_URL set to the Makefile's server, database 9, emptied
// first: the demo's API keys are fixed), where the rate limit, the quota
// and the penalty of a check are one script.
func TestSaaSExampleOnRedis(t *testing.T) {
	addr := os.Getenv("HALT_REDIS_ADDR")
	if addr == "" {
		t.Skip("HALT_REDIS_ADDR is not set (make test sets it)")
	}
	url := "redis://" + addr + "/9"
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("FLUSHDB on %s: %v", url, err)
	}
	driveSaaS(t, start(t, buildSaaS(t), "HALT_REDIS_URL="+url))
	// The penalty states are Redis's: trial-demo's (its quota refusal) and
	// free-demo's (penalized).
	keys, err := c.Keys(context.Background(), "halt:penalty:{key:*}:p").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("penalty keys in Redis: %v %v, want trial-demo's and free-demo's", keys, err)
	}
}

func buildSaaS(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "saas")
	if out, err := exec.Command("go", "build", "-o", bin, "./saas").CombinedOutput(); err != nil {
		t.Fatalf("go build ./saas: %v\n%s", err, out)
	}
	return bin
}

// driveSaaS runs the scenarios against the SaaS example at base.
func driveSaaS(t *testing.T, base string) {
	t.Helper()
	if r := saasCall(t, "GET", base+"/v1/echo", "", ""); r.status != 401 {
		t.Fatalf("no key: %d %s", r.status, r.body)
	}
	if r := saasCall(t, "GET", base+"/v1/echo", "nope", ""); r.status != 401 {
		t.Fatalf("unknown key: %d %s", r.status, r.body)
	}

	for i := 0; i < 20; i++ {
		if r := saasCall(t, "GET", base+"/v1/echo", "trial-demo", ""); r.status != 200 {
			t.Fatalf("trial request %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := saasCall(t, "GET", base+"/v1/echo", "trial-demo", "")
	now := time.Now().UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	toMidnight := int(midnight.Sub(now).Seconds())
	if r.status != 429 || err != nil || retry < toMidnight-5 || retry > toMidnight+5 ||
		r.body != `{"error":"quota_exceeded","message":"The quota for this period is used up.","retry_after":`+strconv.Itoa(retry)+`}` {
		t.Fatalf("trial 21st: %d Retry-After %q (to midnight %d) %s", r.status, r.header.Get("Retry-After"), toMidnight, r.body)
	}

	for i := 0; i < 10; i++ {
		if r := saasCall(t, "GET", base+"/v1/echo", "free-demo", ""); r.status != 200 {
			t.Fatalf("free request %d: %d %s", i+1, r.status, r.body)
		}
	}
	r = saasCall(t, "GET", base+"/v1/echo", "free-demo", "")
	if r.status != 429 || !strings.HasPrefix(r.body, `{"error":"rate_limit_exceeded",`) {
		t.Fatalf("free 11th: %d %s", r.status, r.body)
	}
	l := saasLimitsOf(t, base, "free-demo")
	if l.Plan != "free" || l.Quota.Used != 10 || l.Quota.Limit != 50 || l.Quota.Remaining != 40 ||
		l.Quota.ResetsAt != midnight.Format(time.RFC3339) || l.Penalty.Active || l.Penalty.Score != 1 ||
		len(l.Policies) != 1 || l.Policies[0].Name != "free_per_minute" || l.Policies[0].Limit != 10 {
		t.Fatalf("free after one rejection: %+v", l)
	}
	for i := 0; i < 4; i++ {
		if r := saasCall(t, "GET", base+"/v1/echo", "free-demo", ""); r.status != 429 {
			t.Fatalf("free rejection %d: %d", i+2, r.status)
		}
	}
	l = saasLimitsOf(t, base, "free-demo")
	if !l.Penalty.Active || l.Penalty.Multiplier != 0.5 || l.Penalty.Until == nil || l.Policies[0].Limit != 5 || l.Quota.Used != 10 {
		t.Fatalf("free after five rejections: %+v", l)
	}

	if r := saasCall(t, "POST", base+"/v1/generate", "pro-demo", strings.Repeat("x", 750)); r.status != 200 {
		t.Fatalf("generate: %d %s", r.status, r.body)
	}
	l = saasLimitsOf(t, base, "pro-demo")
	if l.Plan != "pro" || l.Quota.Used != 7 || l.Policies[0].Remaining != 93 {
		t.Fatalf("pro after a 750-byte generate: %+v", l)
	}
}
