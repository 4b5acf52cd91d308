//go:build !race

package halthttp_test

import (
	"testing"
	"time"

	"github.com/halt-go/halt/core/halttest"
)

// TestMiddlewareAllocs: the middleware adds no allocation to an admitted
// request whose header values are below 1024 (a limit of 1,000 that
// refills faster than the test asks). The race detector's pools drop
// entries at random, hence the build tag.
func TestMiddlewareAllocs(t *testing.T) {
	if n := halttest.AllocsAdded(router(nil), limitedRouter(t, 1000, 100*time.Microsecond)); n != 0 {
		t.Fatalf("the middleware adds %v allocations per request, want 0", n)
	}
}
