package halt

import (
	"context"
	"net/netip"
)

// Request is the framework-neutral view of an HTTP request that the limiter
// reads. Adapters implement it over their native context without copying.
// Implementations must not retain or modify anything they return beyond the
// request's lifetime. The limiter keeps a Request only in a [Reservation],
// until it is settled. A Request handed to a function of yours (a
// Policy.KeyFunc, a policy resolver) is valid during that call only: the
// net/http, echo and fiber middleware reuse theirs for later requests.
type Request interface {
	// Context returns the request's context.
	Context() context.Context
	// Method returns the HTTP method.
	Method() string
	// Path returns the URL path, unescaped, without the query.
	Path() string
	// Route returns the pattern of the route the request matched, in the
	// framework's own syntax ("/items/{id}" for net/http and chi,
	// "/items/:id" for gin, echo and fiber), or "" when no route matched or
	// the framework cannot tell. Policies with PerRoute set key by it.
	Route() string
	// Header returns the first value of the named request header, or "".
	Header(name string) string
	// HeaderValues returns every value of the named request header, one per
	// field line, in order. It must not allocate when the header is absent.
	HeaderValues(name string) []string
	// RemoteAddr returns the peer's address, "ip:port" or "ip"; anything
	// else (a unix socket path, "@") means the peer has no IP address.
	RemoteAddr() string
	// Value returns a per-request value (gin and echo c.Get, fiber c.Locals,
	// net/http the context), or nil.
	Value(key any) any
}

// PeerAddrRequest is a Request whose framework holds the peer's address
// parsed already (fiber's is a *net.TCPAddr): the limiter takes it from
// PeerAddr instead of parsing RemoteAddr, which would format it only to
// have it parsed back. PeerAddr reports false when the peer has no IP
// address; the limiter then reads RemoteAddr.
type PeerAddrRequest interface {
	Request
	PeerAddr() (netip.Addr, bool)
}
