package halt

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// IPSource names the header a trusted proxy reports the client address in.
type IPSource uint8

const (
	// SourceXForwardedFor walks X-Forwarded-For (every field line) from the
	// right and takes the first address that is not a trusted proxy. The
	// default.
	SourceXForwardedFor IPSource = iota
	// SourceForwarded walks the RFC 7239 Forwarded header's for= nodes the
	// same way.
	SourceForwarded
	// SourceXRealIP takes X-Real-IP, which the trusted proxy must always
	// overwrite.
	SourceXRealIP
)

// maxEntries bounds the entries a forwarding header walk looks at, empty
// ones included, and maxEntryLen the bytes of one entry: a huge or padded
// header costs a bounded amount of work. Past either bound the walk stops
// as on junk.
const (
	maxEntries  = 32
	maxEntryLen = 256
)

// ipResolver finds the client address: the peer, unless the peer is a
// trusted proxy, then the nearest untrusted address its headers report.
type ipResolver struct {
	trusted  []netip.Prefix
	trustAll bool // WithTrustAllProxies
	unix     bool // WithTrustUnixSocket
	source   IPSource
}

func parseTrusted(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, errors.New("halt: trusted proxy: empty entry (pass no arguments for no trusted proxies)")
		}
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("halt: trusted proxy %q: %w", s, err)
			}
			p = normPrefix(p)
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("halt: trusted proxy %q is neither an IP nor a CIDR", s)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("halt: trusted proxy %q trusts every address: any client could then "+
				"name itself in X-Forwarded-For; list your proxies' addresses, or use WithTrustAllProxies "+
				"if every request really passes a proxy that overwrites the header", s)
		}
		out = append(out, p)
	}
	return out, nil
}

func (r *ipResolver) isTrusted(a netip.Addr) bool {
	if r.trustAll {
		return true
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client is what the resolver found for one request.
type client struct {
	addr netip.Addr // the client address, valid when ok
	peer netip.Addr // the peer address (invalid for a non-IP peer)
	ok   bool
	// proxy is true when the peer is a trusted proxy but no address beyond
	// the trusted proxies was found (no header, junk, too many hops): addr
	// is a proxy's own address, and the request cannot be told apart from
	// the proxy's. Such requests are limited, never exempt as private.
	proxy bool
	// text is addr's canonical text when addr is an IPv4 address parsed
	// from a dotted quad (which is written one way only), so the key copies
	// it instead of formatting addr; "" otherwise.
	text string
}

// resolve finds req's client address.
func (r *ipResolver) resolve(req Request) client {
	var peer netip.Addr
	var text string
	var ok bool
	if pr, isPR := req.(PeerAddrRequest); isPR {
		if peer, ok = pr.PeerAddr(); ok {
			peer, ok = clean(peer)
		}
	}
	if !ok {
		remote := req.RemoteAddr()
		if peer, text, ok = parsePeer4(remote); !ok {
			text = ""
			peer, ok = parsePeer(remote)
		}
	}
	if !ok && !r.unix {
		return client{} // a unix socket or junk, not declared trusted
	}
	if ok && len(r.trusted) == 0 && !r.trustAll {
		return client{addr: peer, peer: peer, ok: true, text: text}
	}
	if ok && !r.isTrusted(peer) {
		return client{addr: peer, peer: peer, ok: true, text: text}
	}
	// The peer is a trusted proxy (or a unix socket, declared trusted):
	// believe its headers.
	var c client
	c.peer = peer
	switch r.source {
	case SourceXRealIP:
		c.addr, c.proxy = peer, true
		if vals := req.HeaderValues("X-Real-Ip"); len(vals) != 0 {
			if a, good := parseHostLenient(vals[len(vals)-1]); good {
				c.addr, c.proxy = a, false
			}
		}
	case SourceForwarded:
		c.addr, c.proxy = r.walk(req.HeaderValues("Forwarded"), peer, forwardedFor)
	default:
		c.addr, c.text, c.proxy = r.walkXFF(req.HeaderValues("X-Forwarded-For"), peer)
	}
	c.ok = c.addr.IsValid()
	return c
}

// walkXFF is walk over X-Forwarded-For with a fast path for its usual
// shape, a single line of one or two IPv4 addresses ("client" or "client,
// proxy"), which it parses without trimming and returns with its text;
// anything else goes to walk.
func (r *ipResolver) walkXFF(lines []string, peer netip.Addr) (netip.Addr, string, bool) {
	if len(lines) == 1 {
		v := lines[0]
		last, rest := v, ""
		if i := strings.LastIndexByte(v, ','); i >= 0 {
			last, rest = v[i+1:], v[:i]
			if len(last) > 0 && last[0] == ' ' {
				last = last[1:]
			}
		}
		if a, text, ok := parsePeer4(last); ok && len(text) == len(last) {
			if !r.isTrusted(a) {
				return a, text, false
			}
			if rest == "" || strings.IndexByte(rest, ',') >= 0 {
				// Fully trusted, or more entries: the general walk.
				addr, proxy := r.walk(lines, peer, identity)
				return addr, "", proxy
			}
			prev := strings.TrimLeft(rest, " ")
			if b, text, ok := parsePeer4(prev); ok && len(text) == len(prev) && !r.isTrusted(b) {
				return b, text, false
			}
		}
	}
	addr, proxy := r.walk(lines, peer, identity)
	return addr, "", proxy
}

func identity(s string) string { return s }

// proxyOnly reports whether a walk that stopped having found (or not) an
// address in the header is left with a proxy's own address: always, unless
// every address is trusted and the proxies named one.
func (r *ipResolver) proxyOnly(found bool) bool { return !r.trustAll || !found }

// forwardedFor extracts the for= node of one Forwarded element, or "" if it
// has none (a junk marker is returned for "unknown" and obfuscated nodes).
func forwardedFor(elem string) string {
	for elem != "" {
		var pair string
		pair, elem, _ = strings.Cut(elem, ";")
		pair = strings.TrimSpace(pair)
		if len(pair) > 4 && strings.EqualFold(pair[:4], "for=") {
			v := strings.TrimSpace(pair[4:])
			if v == "" {
				return "junk"
			}
			return v
		}
	}
	return "junk"
}

// walk goes right to left over every comma-separated entry of every field
// line. It returns the first untrusted address; on junk, an empty chain, too
// many entries or a fully trusted chain it returns the nearest trusted
// address reached, never one to the left of junk, and proxy = true. (With
// WithTrustAllProxies every address is trusted: the walk returns the
// leftmost address the proxies wrote, and proxy is true only when they
// wrote none.)
func (r *ipResolver) walk(lines []string, peer netip.Addr, extract func(string) string) (netip.Addr, bool) {
	current := peer
	seen := 0
	found := false
	for li := len(lines) - 1; li >= 0; li-- {
		v := lines[li]
		end := len(v)
		for end >= 0 {
			seen++
			if seen > maxEntries {
				return current, r.proxyOnly(found)
			}
			// Look for the entry's start only within maxEntryLen bytes.
			from := max(0, end-maxEntryLen-1)
			start := strings.LastIndexByte(v[from:end], ',')
			if start >= 0 {
				start += from
			} else if from > 0 {
				return current, r.proxyOnly(found) // an entry too long to be an address
			}
			entry := strings.TrimSpace(v[start+1 : end])
			end = start
			if entry == "" {
				continue
			}
			a, good := parseHostLenient(extract(entry))
			if !good {
				return current, r.proxyOnly(found)
			}
			if !r.isTrusted(a) {
				return a, false
			}
			current, found = a, true
		}
	}
	return current, r.proxyOnly(found)
}

// parsePeer4 parses the RemoteAddr net/http reports for an IPv4 peer,
// "a.b.c.d:port" (or "a.b.c.d"), as netip.ParseAddr would the address:
// four decimal fields of 0 to 255 without leading zeros. It returns the
// address and its text; ok is false for anything else (IPv6, junk, the
// unspecified 0.0.0.0), which parsePeer then handles.
func parsePeer4(s string) (a netip.Addr, text string, ok bool) {
	var ip uint32
	i := 0
	for f := range 4 {
		if f > 0 {
			if i >= len(s) || s[i] != '.' {
				return netip.Addr{}, "", false
			}
			i++
		}
		if i >= len(s) {
			return netip.Addr{}, "", false
		}
		v := uint32(s[i]) - '0'
		if v > 9 {
			return netip.Addr{}, "", false
		}
		i++
		// Up to two more digits, unless the first is a zero (no leading
		// zeros: "0" stands alone), written out rather than looped: about
		// a tenth faster on a mix of addresses.
		if v != 0 && i < len(s) {
			if d := uint32(s[i]) - '0'; d <= 9 {
				v = v*10 + d
				i++
				if i < len(s) {
					if d := uint32(s[i]) - '0'; d <= 9 {
						if v = v*10 + d; v > 255 {
							return netip.Addr{}, "", false
						}
						i++
					}
				}
			}
		}
		ip = ip<<8 | v
	}
	if i < len(s) && !isPort(s[i:]) {
		return netip.Addr{}, "", false
	}
	if ip == 0 {
		return netip.Addr{}, "", false // unspecified: junk (parsePeer says so)
	}
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), s[:i], true
}

// parsePeer parses a RemoteAddr: "ip:port", "[ip%zone]:port" or "ip".
func parsePeer(s string) (netip.Addr, bool) {
	// The common case first: "a.b.c.d:port", as net/http reports an IPv4
	// peer. The port is never used, so only its shape is checked.
	if i := strings.IndexByte(s, ':'); i > 0 && isPort(s[i:]) {
		if a, err := netip.ParseAddr(s[:i]); err == nil {
			return clean(a)
		}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return clean(ap.Addr())
	}
	return parseHostLenient(s)
}

// parseHostLenient parses an address as proxies write it: optionally
// quoted, optionally bracketed, optionally with a port, optionally zoned.
func parseHostLenient(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if len(s) == 0 || len(s) > 64 {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		rest := s[end+1:]
		if rest != "" && !isPort(rest) {
			return netip.Addr{}, false
		}
		s = s[1:end]
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		// exactly one colon: IPv4 with a port
		if !isPort(s[i:]) {
			return netip.Addr{}, false
		}
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return clean(a)
}

func isPort(s string) bool {
	if len(s) < 2 || len(s) > 6 || s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clean unmaps and drops the zone; the unspecified address is junk.
func clean(a netip.Addr) (netip.Addr, bool) {
	a = a.Unmap()
	if a.Zone() != "" {
		a = a.WithZone("")
	}
	if !a.IsValid() || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// isPrivate reports loopback, RFC 1918, link-local and unique-local
// addresses; not CGNAT (100.64.0.0/10), NAT64, 6to4 or Teredo, whose
// addresses stand for many subscribers or for public hosts.
func isPrivate(a netip.Addr) bool {
	if a.Is4() {
		// The same ranges as below, read from the address's four bytes.
		b := a.As4()
		return b[0] == 10 || b[0] == 127 || b[0] == 172 && b[1]&0xf0 == 16 ||
			b[0] == 192 && b[1] == 168 || b[0] == 169 && b[1] == 254
	}
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()
}
