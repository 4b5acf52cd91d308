package haltfiber

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: the
// flow-control tests wait, hold and cancel requests, and every waiter,
// timer and lease must be gone when they end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's own: a stopped server's worker-pool cleaner sleeps
		// out its 10 s period, and its date ticker runs for the process.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}
