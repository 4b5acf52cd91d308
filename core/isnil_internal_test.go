package halt

import (
	"net/http"
	"testing"
)

// TestIsNil: typed nils of every kind a word holds are nil, and values
// whose data word is nil without being a nil (a struct of one nil
// pointer) or set (a struct, a string) are not.
func TestIsNil(t *testing.T) {
	type onePointer struct{ p *int }
	type twoFields struct {
		p *int
		n int
	}
	var (
		ptr   *http.Request
		m     map[string]int
		fn    func()
		ch    chan int
		sl    []int
		iface Request
	)
	n := 1
	for _, c := range []struct {
		name string
		v    any
		want bool
	}{
		{"nil interface", nil, true},
		{"nil interface value", iface, true},
		{"typed nil pointer", ptr, true},
		{"typed nil map", m, true},
		{"typed nil func", fn, true},
		{"typed nil chan", ch, true},
		{"typed nil slice", sl, true},
		{"empty slice", []int{}, false},
		{"pointer", &n, false},
		{"map", map[string]int{}, false},
		{"func", func() {}, false},
		{"struct of one nil pointer", onePointer{}, false},
		{"struct of one pointer", onePointer{&n}, false},
		{"struct of two fields", twoFields{p: &n, n: n}, false},
		{"string", "", false},
		{"int", 0, false},
	} {
		if got := isNil(c.v); got != c.want {
			t.Errorf("%s: isNil = %v, want %v", c.name, got, c.want)
		}
	}
}
