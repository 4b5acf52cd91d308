package examples_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/halt-go/halt/examples/internal/app"
)

// sendBody sends method url for client with a JSON body.
func sendBody(t *testing.T, method, url, client, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", client)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

// timed is a response and when it arrived, after the burst started.
type timed struct {
	response
	after time.Duration
}

// burst sends n concurrent GETs of url for client.
func burst(t *testing.T, url, client string, n int) []timed {
	t.Helper()
	out := make([]timed, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
			req.Header.Set("X-Forwarded-For", client)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			out[i] = timed{response{res.StatusCode, res.Header, string(b)}, time.Since(start)}
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].after < out[j].after })
	return out
}

// driveFlow checks the flow-control routes: POST /auth/otp counts only
// failures, GET /api/smooth waits instead of rejecting, GET /api/export
// holds at most 2 in flight.
func driveFlow(t *testing.T, base string) { driveFlowAt(t, base, 0) }

// driveFlowAt is driveFlow with client addresses made unique by salt
// (IPv6 addresses in 2001:db8::/32 when salt is not 0).
func driveFlowAt(t *testing.T, base string, salt uint32) {
	ip := func(n int) string {
		if salt == 0 {
			return "203.0.113." + strconv.Itoa(n)
		}
		// IPv6 clients are keyed by their /64: the salt and n go there.
		return fmt.Sprintf("2001:db8:%04x:%04x::1", salt>>16&0xffff, salt&0xfff0|uint32(n-30))
	}
	otpIP := ip(30)
	for i := range 50 {
		if r := sendBody(t, "POST", base+"/auth/otp", otpIP, `{"code":"000000"}`); r.status != 200 || r.body != app.OTPBody {
			t.Fatalf("right code #%d: %d %q", i+1, r.status, r.body)
		}
	}
	for i := range 3 {
		if r := sendBody(t, "POST", base+"/auth/otp", otpIP, `{"code":"123456"}`); r.status != 401 || r.body != app.OTPWrongBody {
			t.Fatalf("wrong code #%d: %d %q", i+1, r.status, r.body)
		}
	}
	rejected(t, sendBody(t, "POST", base+"/auth/otp", otpIP, `{"code":"000000"}`), 200, 200)
	rejected(t, sendBody(t, "POST", base+"/auth/otp", otpIP, `{"code":"999999"}`), 200, 200)

	// 5 at once, 5 per second with a burst of 1: all pass, 200 ms apart.
	five := burst(t, base+"/api/smooth", ip(31), 5)
	for _, r := range five {
		if r.status != 200 || r.body != app.SmoothBody {
			t.Fatalf("GET /api/smooth x5: %d %q", r.status, r.body)
		}
	}
	if spread := five[4].after - five[0].after; spread < 700*time.Millisecond || spread > 1200*time.Millisecond {
		t.Fatalf("GET /api/smooth x5: the last answered %v after the first, want about 800 ms", spread)
	}
	// 20 at once: 6 fit within the 1 s wait (0, 200, ..., 1000 ms; a 7th
	// when the burst took over 200 ms to arrive), the rest get 429 at once.
	twenty := burst(t, base+"/api/smooth", ip(32), 20)
	ok, quick := 0, 0
	for _, r := range twenty {
		switch r.status {
		case 200:
			ok++
		case 429:
			rejected(t, r.response, 1, 1)
			if r.after < 500*time.Millisecond {
				quick++
			}
		default:
			t.Fatalf("GET /api/smooth x20: %d %q", r.status, r.body)
		}
	}
	if ok < 6 || ok > 7 || quick != 20-ok {
		t.Fatalf("GET /api/smooth x20: %d x 200, %d quick 429s of %d", ok, quick, 20-ok)
	}

	// 5 at once, at most 2 in flight: 2 x 200 and 3 x 429 (Retry-After: 1).
	exports := burst(t, base+"/api/export", ip(33), 5)
	codes := map[int]int{}
	for _, r := range exports {
		codes[r.status]++
		if r.status == 429 {
			rejected(t, r.response, 1, 1)
		} else if r.status != 200 || r.body != app.ExportBody {
			t.Fatalf("GET /api/export: %d %q", r.status, r.body)
		}
	}
	if codes[200] != 2 || codes[429] != 3 {
		t.Fatalf("GET /api/export x5: %v, want 2 x 200 and 3 x 429", codes)
	}
	if r := send(t, "GET", base+"/api/export", ip(33)); r.status != 200 || r.body != app.ExportBody {
		t.Fatalf("GET /api/export after the others finished: %d %q", r.status, r.body)
	}
}

// TestExampleFlowOnRedis drives the flow-control routes of the net/http
// example on Redis (the Makefile's server): leases, reservations and
// give-backs are Redis scripts there.
func TestExampleFlowOnRedis(t *testing.T) {
	addr := os.Getenv("HALT_REDIS_ADDR")
	if addr == "" {
		t.Skip("HALT_REDIS_ADDR is not set (make test sets it)")
	}
	bin := filepath.Join(t.TempDir(), "nethttp")
	if out, err := exec.Command("go", "build", "-o", bin, "./nethttp").CombinedOutput(); err != nil {
		t.Fatalf("go build ./nethttp: %v\n%s", err, out)
	}
	base := start(t, bin, "HALT_REDIS_URL=redis://"+addr+"/0")
	// Keys from earlier runs on the shared server are told apart by client IP.
	driveFlowAt(t, base, rand.Uint32()|1)
}
