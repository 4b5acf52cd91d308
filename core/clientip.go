package halt

import (
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

// maxHops bounds the entries walked in a forwarding header, so a huge
// header costs little; past it the resolver stops as on junk.
const maxHops = 32

// ipResolver finds the client address: the peer, unless the peer is a
// trusted proxy, then the nearest untrusted address its headers report.
type ipResolver struct {
	trusted []netip.Prefix
	source  IPSource
}

func parseTrusted(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("halt: trusted proxy %q: %w", s, err)
			}
			out = append(out, normPrefix(p))
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("halt: trusted proxy %q is neither an IP nor a CIDR", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (r *ipResolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// resolve returns the client address and the peer address. ok is false when
// no client address can be found: the peer address is not an IP (a unix
// socket, say) and no trusted forwarding header names one.
func (r *ipResolver) resolve(req Request) (client, peer netip.Addr, ok bool) {
	peer, ok = parsePeer(req.RemoteAddr())
	if len(r.trusted) == 0 || (ok && !r.isTrusted(peer)) {
		return peer, peer, ok
	}
	// The peer is a trusted proxy, or not an IP at all (a unix socket,
	// which only a local proxy can reach): believe its headers.
	defer func() { ok = client.IsValid() }()
	switch r.source {
	case SourceXRealIP:
		vals := req.HeaderValues("X-Real-Ip")
		if len(vals) == 0 {
			return peer, peer, true
		}
		if a, good := parseHostLenient(vals[len(vals)-1]); good {
			return a, peer, true
		}
		return peer, peer, true
	case SourceForwarded:
		return r.walk(req.HeaderValues("Forwarded"), peer, forwardedFor), peer, true
	default:
		return r.walk(req.HeaderValues("X-Forwarded-For"), peer, identity), peer, true
	}
}

func identity(s string) string { return s }

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
// many hops or a fully trusted chain it returns the nearest trusted address
// reached, never one to the left of junk.
func (r *ipResolver) walk(lines []string, peer netip.Addr, extract func(string) string) netip.Addr {
	current := peer
	hops := 0
	for li := len(lines) - 1; li >= 0; li-- {
		v := lines[li]
		end := len(v)
		for end >= 0 {
			start := strings.LastIndexByte(v[:end], ',')
			entry := strings.TrimSpace(v[start+1 : end])
			end = start
			if entry == "" {
				continue
			}
			hops++
			if hops > maxHops {
				return current
			}
			a, good := parseHostLenient(extract(entry))
			if !good {
				return current
			}
			if !r.isTrusted(a) {
				return a
			}
			current = a
		}
	}
	return current
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
// addresses (STANDARDS.md section 4); not CGNAT, NAT64, 6to4 or Teredo.
func isPrivate(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()
}
