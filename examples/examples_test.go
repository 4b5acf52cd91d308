package examples_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/halt-go/halt/examples/internal/app"
)

// programs are the example binaries that serve the common example app; each
// is built and driven over real HTTP the same way.
var programs = []string{"nethttp", "gin", "echo", "fiber", "chi"}

func TestExamplePrograms(t *testing.T) {
	dir := t.TempDir()
	for _, name := range programs {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(dir, name)
			build := exec.Command("go", "build", "-o", bin, "./"+name)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./%s: %v\n%s", name, err, out)
			}
			base := start(t, bin)
			drive(t, base)
			driveFlow(t, base)
			driveIETF(t, start(t, bin, "HALT_HEADER_STYLE=ietf"))
		})
	}
}

// start runs bin on a free loopback port behind the "proxy" 127.0.0.1 and
// waits until it answers.
func start(t *testing.T, bin string, env ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "ADDR="+addr, "HALT_TRUSTED_PROXIES=127.0.0.1/32", "HALT_REDIS_URL=", "HALT_HEADER_STYLE=")
	cmd.Env = append(cmd.Env, env...)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/health")
		if err == nil {
			res.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start: %v\n%s", bin, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // waiting for a process to listen, not for rate-limit time
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, method, url, client string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", client)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

func rejected(t *testing.T, r response, minRetry, maxRetry int) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429 (body %q)", r.status, r.body)
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < minRetry || retry > maxRetry {
		t.Fatalf("Retry-After %q, want %d..%d", r.header.Get("Retry-After"), minRetry, maxRetry)
	}
	want := fmt.Sprintf(`{"error":"rate_limit_exceeded","message":"Too many requests. Please try again later.","retry_after":%d}`, retry)
	if r.body != want {
		t.Fatalf("body %q, want %q", r.body, want)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
}

// drive checks the common app's contract (DESIGN.md section 9).
func drive(t *testing.T, base string) {
	for i := 0; i < 3; i++ {
		r := send(t, "GET", base+"/health", "203.0.113.5")
		if r.status != 200 || r.body != app.HealthBody {
			t.Fatalf("/health: %d %q", r.status, r.body)
		}
		for name := range r.header {
			if strings.Contains(strings.ToLower(name), "ratelimit") || name == "Retry-After" {
				t.Fatalf("/health carries %s", name)
			}
		}
	}
	// PublicAPI: a burst of 120, then 429. 121 loopback requests take
	// milliseconds; a token refills only every 600 ms.
	for i := 1; i <= 120; i++ {
		r := send(t, "GET", base+"/", "203.0.113.5")
		if r.status != 200 || r.body != app.HelloBody {
			t.Fatalf("GET / #%d: %d %q", i, r.status, r.body)
		}
		if got, want := r.header.Get("RateLimit-Remaining"), strconv.Itoa(120-i); got != want {
			t.Fatalf("GET / #%d: RateLimit-Remaining %q, want %q", i, got, want)
		}
	}
	rejected(t, send(t, "GET", base+"/", "203.0.113.5"), 1, 1)
	// AuthEndpoints: a burst of 10, then the 5-minute cooldown.
	for i := 1; i <= 10; i++ {
		if r := send(t, "POST", base+"/auth/login", "203.0.113.6"); r.status != 200 || r.body != app.LoginBody {
			t.Fatalf("POST /auth/login #%d: %d %q", i, r.status, r.body)
		}
	}
	rejected(t, send(t, "POST", base+"/auth/login", "203.0.113.6"), 295, 300)
	rejected(t, send(t, "POST", base+"/auth/login", "203.0.113.6"), 295, 300)
	if r := send(t, "GET", base+"/health", "203.0.113.6"); r.status != 200 {
		t.Fatalf("/health after limits: %d", r.status)
	}
	// 13 login attempts: the global limit paid for the 10 admitted only.
	if r := send(t, "GET", base+"/", "203.0.113.6"); r.header.Get("RateLimit-Remaining") != "109" {
		t.Fatalf("GET / after 13 logins: RateLimit-Remaining %q, want 109", r.header.Get("RateLimit-Remaining"))
	}
	driveTogether(t, base)
}

// driveTogether checks the routes of limits that work together: two
// policies in one check, stacking without double charge, a shadow policy
// and the status endpoint.
func driveTogether(t *testing.T, base string) {
	const ip = "203.0.113.20"
	for i, want := range []string{"1", "0"} {
		r := send(t, "GET", base+"/api/search", ip)
		if r.status != 200 || r.body != app.SearchBody || r.header.Get("RateLimit-Limit") != "2" ||
			r.header.Get("RateLimit-Remaining") != want {
			t.Fatalf("GET /api/search #%d: %d %q %v", i+1, r.status, r.body, r.header)
		}
	}
	rejected(t, send(t, "GET", base+"/api/search", ip), 1, 1)
	// public_api counted the two admitted searches, not the refused one.
	if r := send(t, "GET", base+"/", ip); r.header.Get("RateLimit-Remaining") != "117" {
		t.Fatalf("GET / after 3 searches: RateLimit-Remaining %q, want 117", r.header.Get("RateLimit-Remaining"))
	}
	st := status(t, base, ip)
	for name, want := range map[string]int64{"public_api": 117, "auth_endpoints": 10, "search_second": 0, "search_hour": 18} {
		if p, ok := st[name]; !ok || p.Remaining != want {
			t.Fatalf("/rate_limit: %s = %+v, want remaining %d (all: %+v)", name, p, want, st)
		}
	}
	if st["public_api"].Limit != 100 || st["search_hour"].Limit != 20 || st["search_hour"].Reset != 360 {
		t.Fatalf("/rate_limit: %+v", st)
	}
	if again := status(t, base, ip); again["public_api"].Remaining != 117 {
		t.Fatalf("/rate_limit was counted: %+v", again)
	}
	// The shadow policy: always 200, none of its headers (the global
	// limiter's are there).
	for i := 0; i < 3; i++ {
		r := send(t, "GET", base+"/api/beta", "203.0.113.21")
		if r.status != 200 || r.body != app.BetaBody || r.header.Get("RateLimit-Limit") != "100" {
			t.Fatalf("GET /api/beta #%d: %d %q %v", i+1, r.status, r.body, r.header)
		}
	}
}

// driveIETF checks that the IETF style lists every policy of a request.
func driveIETF(t *testing.T, base string) {
	r := send(t, "GET", base+"/api/search", "203.0.113.22")
	got := strings.Join(r.header.Values("RateLimit"), ", ")
	for _, want := range []string{`"public_api";r=119;t=1`, `"search_second";r=1;t=1`, `"search_hour";r=19;t=180`} {
		if !strings.Contains(got, want) {
			t.Fatalf("IETF RateLimit %q lacks %q", got, want)
		}
	}
	pol := strings.Join(r.header.Values("RateLimit-Policy"), ", ")
	if !strings.Contains(pol, `"search_second";q=2;w=1`) || !strings.Contains(pol, `"search_hour";q=20;w=3600`) {
		t.Fatalf("IETF RateLimit-Policy %q", pol)
	}
}

type standing struct {
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Remaining int64  `json:"remaining"`
	Reset     int64  `json:"reset"`
}

// status reads GET /rate_limit for client, by policy name.
func status(t *testing.T, base, client string) map[string]standing {
	t.Helper()
	r := send(t, "GET", base+app.StatusPath, client)
	var body struct {
		Policies []standing `json:"policies"`
	}
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("/rate_limit: %d %v %q", r.status, r.header, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body.Policies) != 4 {
		t.Fatalf("/rate_limit: %q: %v", r.body, err)
	}
	for name := range r.header {
		if strings.HasPrefix(strings.ToLower(name), "ratelimit") {
			t.Fatalf("/rate_limit carries %s", name)
		}
	}
	out := map[string]standing{}
	for _, p := range body.Policies {
		out[p.Name] = p
	}
	return out
}
