package halt

import (
	"math/rand/v2"
	"testing"
)

// TestParsePeer4 agrees with parsePeer (netip) on every string it accepts,
// and its text is the address's canonical form.
func TestParsePeer4(t *testing.T) {
	cases := []string{
		"198.18.0.7:52311", "1.2.3.4", "1.2.3.4:", "1.2.3.4:80", "255.255.255.255:1",
		"0.0.0.0:80", "0.0.0.1:80", "01.2.3.4:80", "1.2.3.04", "256.1.1.1:1", "1.2.3:4",
		"1.2.3.4.5:6", "1..2.3:4", ".1.2.3:4", "1.2.3.4:65536", "1.2.3.4:8a", "1.2.3.4 :80",
		"[::1]:80", "::ffff:1.2.3.4", "1.2.3.4%eth0:80", "", ":", "1.2.3.4:1234567", "10.0.0.255:0",
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "0123456789.:%[]a "
	for range 200_000 {
		n := rng.IntN(18)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		a, text, ok := parsePeer4(s)
		if !ok {
			continue
		}
		want, wok := parsePeer(s)
		if !wok || want != a {
			t.Fatalf("parsePeer4(%q) = %v, parsePeer = %v, %v", s, a, want, wok)
		}
		if text != a.String() {
			t.Fatalf("parsePeer4(%q) text %q, address %v", s, text, a)
		}
	}
	for _, s := range []string{"198.18.0.7:52311", "1.2.3.4", "10.0.0.255:0"} {
		if _, _, ok := parsePeer4(s); !ok {
			t.Errorf("parsePeer4(%q) refused", s)
		}
	}
}
