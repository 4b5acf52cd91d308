package halt

import (
	"testing"
	"unsafe"
)

// TestHotStructSizes: the structs the check path copies whole are
// multiples of 16 bytes (see the note in Decision).
func TestHotStructSizes(t *testing.T) {
	for name, size := range map[string]uintptr{
		"Decision": unsafe.Sizeof(Decision{}),
		"Result":   unsafe.Sizeof(Result{}),
		"Event":    unsafe.Sizeof(Event{}),
	} {
		if size%16 != 0 {
			t.Errorf("%s is %d bytes, not a multiple of 16", name, size)
		}
	}
}
