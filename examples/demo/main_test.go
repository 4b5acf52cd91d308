package main

import (
	"strings"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

func TestDemo(t *testing.T) {
	t.Setenv("HALT_REDIS_URL", "")
	t.Setenv("HALT_HEADER_STYLE", "")
	var out strings.Builder
	if err := run(&out, halt.WithClock(halttest.NewClock(time.Now()))); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		" 121  GET  /            -> 429  RateLimit-Limit: 100  RateLimit-Remaining: 0  RateLimit-Reset: 1  Retry-After: 1",
		"   1  GET  /            -> 200  RateLimit-Limit: 100  RateLimit-Remaining: 119  RateLimit-Reset: 1",
		"GET /            120 x 200, 5 x 429",
		"POST /auth/login  10 x 200, 2 x 429",
		"Retry-After: 300",
		"GET /api/search    2 x 200, 1 x 429",
		`{"name":"search_hour","limit":20,"remaining":18,"reset":360}`,
		`{"name":"public_api","limit":100,"remaining":118,"reset":2}`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
