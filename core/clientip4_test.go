package halt

import (
	"math/rand/v2"
	"net/netip"
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

// TestIsPrivate4 agrees with netip on every IPv4 address of a few /16s
// around the private ranges' edges and 100,000 random ones.
func TestIsPrivate4(t *testing.T) {
	want := func(a netip.Addr) bool { return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() }
	check := func(b [4]byte) {
		a := netip.AddrFrom4(b)
		if got := isPrivate(a); got != want(a) {
			t.Fatalf("isPrivate(%v) = %v", a, got)
		}
	}
	for _, hi := range [][2]byte{{9, 255}, {10, 0}, {11, 0}, {126, 255}, {127, 0}, {128, 0}, {172, 15}, {172, 16}, {172, 31}, {172, 32},
		{192, 167}, {192, 168}, {192, 169}, {169, 253}, {169, 254}, {169, 255}} {
		for i := range 1 << 16 {
			check([4]byte{hi[0], hi[1], byte(i >> 8), byte(i)})
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100_000 {
		v := rng.Uint32()
		check([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
}

// TestAppendIPv4 agrees with netip's formatting on every octet value in
// each position.
func TestAppendIPv4(t *testing.T) {
	for i := range 256 {
		for _, b := range [][4]byte{{byte(i), 0, 0, 1}, {1, byte(i), 2, 3}, {255, 0, byte(i), 9}, {10, 200, 7, byte(i)}} {
			want := netip.AddrFrom4(b).String()
			if got := string(appendIPv4([]byte("ip:"), b)); got != "ip:"+want {
				t.Fatalf("appendIPv4(%v) = %q, want %q", b, got, "ip:"+want)
			}
		}
	}
}
