package halt_test

import (
	"net/netip"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// peerAddrRequest reports its peer parsed (as the fiber adapter does).
type peerAddrRequest struct {
	*halttest.FakeRequest
	addr netip.Addr
	ok   bool
}

func (r peerAddrRequest) PeerAddr() (netip.Addr, bool) { return r.addr, r.ok }

// TestPeerAddrRequest: the limiter takes the peer from PeerAddr when the
// request has one (unmapped, and junk refused), and from RemoteAddr when
// PeerAddr reports none.
func TestPeerAddrRequest(t *testing.T) {
	l, err := halt.New(halttest.NewMapStore(), halt.Policy{Name: "p", Limit: 5, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	fake := &halttest.FakeRequest{Peer: "203.0.113.9:1234"}
	for _, c := range []struct {
		addr netip.Addr
		ok   bool
		want string
	}{
		{netip.MustParseAddr("198.51.100.4"), true, "halt:p:{ip:198.51.100.4}"},
		{netip.MustParseAddr("::ffff:198.51.100.5"), true, "halt:p:{ip:198.51.100.5}"},
		{netip.Addr{}, false, "halt:p:{ip:203.0.113.9}"},
		{netip.MustParseAddr("0.0.0.0"), true, "halt:p:{ip:203.0.113.9}"},
	} {
		if got := l.Key(peerAddrRequest{fake, c.addr, c.ok}); got != c.want {
			t.Errorf("PeerAddr %v, %v: key %q, want %q", c.addr, c.ok, got, c.want)
		}
	}
}
