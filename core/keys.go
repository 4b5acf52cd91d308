package halt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// DefaultUserKey is the per-request value name the user strategy reads.
const DefaultUserKey = "user_id"

// maxKeyPart bounds one part of a key; longer values are hashed.
const maxKeyPart = 128

// MissingKey says what happens to a request that has no key under its
// policy's strategy (an anonymous user under KeyUser, no API key under
// KeyAPIKey, a custom key function that found nothing).
type MissingKey uint8

const (
	// MissingKeyUseIP counts the request against its client IP (default).
	MissingKeyUseIP MissingKey = iota
	// MissingKeyDeny rejects the request with [ReasonMissingKey]: 401
	// Unauthorized by default (see [WithRejectStatus]), the body
	// {"error":"missing_credential",...}, no rate-limit headers and no
	// Retry-After, since waiting will not help.
	MissingKeyDeny
	// MissingKeySkip lets the request through without counting it.
	MissingKeySkip
)

// appendKey appends the request's client key under strategy to dst (the
// part between the braces of "halt:<policy>:{<client>}"). ok is false when
// the request has no key under the strategy. keyFunc is the KeyFunc of the
// policy as resolved for this request.
func (l *Limiter) appendKey(dst []byte, p *Policy, keyFunc func(Request) (string, bool), req Request, c *client) ([]byte, bool) {
	switch p.KeyStrategy {
	case KeyUser:
		return l.appendUser(dst, req)
	case KeyAPIKey:
		secret := apiKey(req)
		if secret == "" {
			return dst, false
		}
		return appendHashed(append(dst, "key:"...), secret), true
	case KeyComposite:
		out, ok := l.appendUser(dst, req)
		if !ok {
			return dst, false
		}
		return l.appendIP(append(out, '|'), c), true
	case KeyCustom:
		v, ok := keyFunc(req)
		if !ok || v == "" {
			return dst, false
		}
		return appendPart(append(dst, "custom:"...), v), true
	default:
		return l.appendIP(dst, c), true
	}
}

// appendIP appends "ip:<addr>" for IPv4 and "ip:<prefix>" for IPv6.
func (l *Limiter) appendIP(dst []byte, c *client) []byte {
	dst = append(dst, "ip:"...)
	if !c.ok {
		return append(dst, "unknown"...)
	}
	if c.text != "" {
		return append(dst, c.text...)
	}
	a := c.addr
	if a.Is4() {
		return appendIPv4(dst, a.As4())
	}
	if a.Is6() && l.ipv6Bits < 128 {
		pfx, _ := a.Prefix(l.ipv6Bits)
		return pfx.AppendTo(dst)
	}
	return a.AppendTo(dst)
}

// appendIPv4 appends b as a dotted quad, each octet's text from the table
// of small decimals (netip formats digit by digit): the key of a client
// whose address came as bytes, such as a fiber peer's, not as text.
func appendIPv4(dst []byte, b [4]byte) []byte {
	dst = append(dst, smallInts[b[0]]...)
	dst = append(dst, '.')
	dst = append(dst, smallInts[b[1]]...)
	dst = append(dst, '.')
	dst = append(dst, smallInts[b[2]]...)
	dst = append(dst, '.')
	return append(dst, smallInts[b[3]]...)
}

func (l *Limiter) appendUser(dst []byte, req Request) ([]byte, bool) {
	v := req.Value(l.userKey)
	if v == nil {
		return dst, false
	}
	dst = append(dst, "user:"...)
	switch id := v.(type) {
	case string:
		if id == "" {
			return dst, false
		}
		return appendPart(dst, id), true
	case int:
		return strconv.AppendInt(dst, int64(id), 10), true
	case int64:
		return strconv.AppendInt(dst, id, 10), true
	case int32:
		return strconv.AppendInt(dst, int64(id), 10), true
	case uint:
		return strconv.AppendUint(dst, uint64(id), 10), true
	case uint64:
		return strconv.AppendUint(dst, id, 10), true
	case uint32:
		return strconv.AppendUint(dst, uint64(id), 10), true
	case fmt.Stringer:
		s := id.String()
		if s == "" {
			return dst, false
		}
		return appendPart(dst, s), true
	case []byte:
		if len(id) == 0 {
			return dst, false
		}
		return appendPart(dst, string(id)), true
	}
	return dst, false
}

// apiKey returns the credential of the API-key strategy: X-API-Key, else
// the token of "Authorization: Bearer <token>" (the scheme matched without
// regard to case), else "". Other schemes (Basic credentials) and bare
// Authorization values are not API keys.
func apiKey(req Request) string {
	if k := strings.TrimSpace(req.Header("X-Api-Key")); k != "" {
		return k
	}
	auth := strings.TrimSpace(req.Header("Authorization"))
	if len(auth) > 7 && strings.EqualFold(auth[:6], "bearer") && (auth[6] == ' ' || auth[6] == '\t') {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// appendPart appends s escaped (see appendEscaped), or "h:" and its hash
// when s is long.
func appendPart(dst []byte, s string) []byte {
	if len(s) <= maxKeyPart {
		return appendEscaped(dst, s)
	}
	return appendHashed(append(dst, "h:"...), s)
}

// appendEscaped appends s with '{', '}' and '%' written as %7B, %7D and
// %25, so a key part can never open or close the key's hash tag, and two
// different parts never escape alike.
func appendEscaped(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, "{}%") {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			dst = append(dst, "%7B"...)
		case '}':
			dst = append(dst, "%7D"...)
		case '%':
			dst = append(dst, "%25"...)
		default:
			dst = append(dst, s[i])
		}
	}
	return dst
}

// escapeKeyPart is appendEscaped for a string.
func escapeKeyPart(s string) string {
	if !strings.ContainsAny(s, "{}%") {
		return s
	}
	return string(appendEscaped(nil, s))
}

// appendHashed appends the hex of the first 16 bytes of SHA-256(s).
func appendHashed(dst []byte, s string) []byte {
	sum := sha256.Sum256([]byte(s))
	var buf [32]byte
	hex.Encode(buf[:], sum[:16])
	return append(dst, buf[:]...)
}
