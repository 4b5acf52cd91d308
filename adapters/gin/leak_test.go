package haltgin_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: the
// flow-control tests wait, hold and cancel requests, and every waiter,
// timer and lease must be gone when they end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
