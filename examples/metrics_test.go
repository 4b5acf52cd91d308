package examples_test

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/halt-go/halt/examples/internal/app"
)

// TestMetrics runs every example program with HALT_METRICS_ADDR and reads
// back over HTTP, from its metrics listener, what one client's burst did.
func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	for _, name := range programs {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(dir, name)
			build := exec.Command("go", "build", "-o", bin, "./"+name)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./%s: %v\n%s", name, err, out)
			}
			addr := freeAddr(t)
			metrics := "http://" + addr + app.MetricsPath
			base := start(t, bin, "HALT_METRICS_ADDR="+addr)

			// start polled /health until the app answered: those checks
			// are exempt too, so exempt requests are counted from here.
			before := scrape(t, metrics)
			if n := requestsTotal(before, "public_api", "allowed") + requestsTotal(before, "public_api", "blocked"); n != 0 {
				t.Fatalf("%v requests counted before the burst", n)
			}
			for i := 1; i <= 125; i++ {
				send(t, "GET", base+"/", "203.0.113.50")
			}
			for range 2 {
				send(t, "GET", base+"/health", "203.0.113.50")
			}
			after := scrape(t, metrics)

			if got := requestsTotal(after, "public_api", "allowed"); got != 120 {
				t.Errorf(`halt_requests_total{policy="public_api",outcome="allowed"} = %v, want 120`, got)
			}
			if got := requestsTotal(after, "public_api", "blocked"); got != 5 {
				t.Errorf(`halt_requests_total{policy="public_api",outcome="blocked"} = %v, want 5`, got)
			}
			if got := requestsTotal(after, "", "exempt") - requestsTotal(before, "", "exempt"); got != 2 {
				t.Errorf(`halt_requests_total{outcome="exempt"} grew by %v, want 2`, got)
			}
			if got := requestsTotal(after, "", "error"); got != 0 {
				t.Errorf(`halt_requests_total{outcome="error"} = %v, want 0`, got)
			}
			if got := series(after, "halt_store_up", "store", "memory"); got != 1 {
				t.Errorf(`halt_store_up{store="memory"} = %v, want 1`, got)
			}
			h := after["halt_store_duration_seconds"]
			if h == nil || len(h.GetMetric()) != 1 || h.GetMetric()[0].GetHistogram().GetSampleCount() != 125 {
				t.Errorf("halt_store_duration_seconds = %v, want 125 samples from the memory store", h)
			}
			if after["go_goroutines"] == nil {
				t.Error("no Go runtime metrics")
			}
			// The metrics listener is not the app: / there is not found.
			if r := send(t, "GET", "http://"+addr+"/", "203.0.113.50"); r.status != http.StatusNotFound {
				t.Errorf("GET / on the metrics listener: %d, want 404", r.status)
			}
		})
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape reads the metrics at url in the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return mfs
}

// requestsTotal sums halt_requests_total over the series with the given
// outcome and, unless policy is "", policy.
func requestsTotal(mfs map[string]*dto.MetricFamily, policy, outcome string) float64 {
	var sum float64
	for _, m := range mfs["halt_requests_total"].GetMetric() {
		l := labels(m)
		if l["outcome"] == outcome && (policy == "" || l["policy"] == policy) {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// series is the value of the gauge name whose label key is value; -1 when
// there is none.
func series(mfs map[string]*dto.MetricFamily, name, key, value string) float64 {
	for _, m := range mfs[name].GetMetric() {
		if labels(m)[key] == value {
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}
