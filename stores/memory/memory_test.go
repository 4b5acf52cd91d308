package memory_test

import (
	"testing"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

func TestConformance(t *testing.T) {
	halttest.RunStoreTests(t, func(t *testing.T) halt.Store {
		s := memory.New(nil)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
