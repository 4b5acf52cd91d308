package halt

import (
	"context"
	"log/slog"
	"net/netip"
)

func (l *Limiter) isHealth(path string) bool {
	for _, h := range l.health {
		if matchPath(path, h) {
			return true
		}
	}
	return false
}

func (c *compiled) exemptPath(path string) bool {
	for _, p := range c.exempt.paths {
		if matchPath(path, p) {
			return true
		}
	}
	return false
}

func (c *compiled) exemptIP(a netip.Addr) bool {
	for _, p := range c.exempt.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// notice reports n to telemetry and, when telemetry does not log (a custom
// sink), to the logger as well: the operator must see it either way.
func (l *Limiter) notice(ctx context.Context, n Notice) {
	l.telemetry.OnNotice(ctx, n)
	if !logsNotices(l.telemetry) {
		SlogTelemetry{Logger: l.logger}.OnNotice(ctx, n)
	}
}

// warnPrivate reports, once per limiter, that private clients are exempt,
// and, once, the likelier cause when the private peer sent forwarding
// headers while no trusted proxies are configured: a proxy that was not
// declared, through which every request looks private.
func (l *Limiter) warnPrivate(ctx context.Context, req Request, c client) {
	if l.warnedPrivate.Load() && (l.warnedProxy.Load() || len(l.ip.trusted) != 0 || l.ip.trustAll) {
		return
	}
	if !l.warnedProxy.Load() && len(l.ip.trusted) == 0 && !l.ip.trustAll && c.addr == c.peer &&
		(len(req.HeaderValues("X-Forwarded-For")) != 0 || len(req.HeaderValues("Forwarded")) != 0 ||
			len(req.HeaderValues("X-Real-Ip")) != 0) && l.warnedProxy.CompareAndSwap(false, true) {
		l.notice(ctx, Notice{
			Kind:  NoticeUntrustedProxy,
			Level: slog.LevelWarn,
			Message: "a private peer sent forwarding headers but no trusted proxies are configured; " +
				"every request through it is exempt as private. Use WithTrustedProxies",
			Attrs: []slog.Attr{slog.String("peer", c.peer.String())},
		})
	}
	if l.warnedPrivate.CompareAndSwap(false, true) {
		l.notice(ctx, Notice{
			Kind:  NoticePrivateExempt,
			Level: slog.LevelWarn,
			Message: "requests from private addresses (loopback, 10/8, 172.16/12, 192.168/16, link-local, fc00::/7) " +
				"are exempt and carry no rate-limit headers; WithExemptPrivateIPs(false) limits them too " +
				"(reported once)",
			Attrs: []slog.Attr{slog.String("client", c.addr.String()), slog.String("policy", l.policy.Name)},
		})
	}
}

// warnProxyOnly reports, once per limiter, a request whose trusted proxy
// named no client: it is limited under the proxy's own address.
func (l *Limiter) warnProxyOnly(ctx context.Context, c client) {
	if l.warnedProxyOnly.Load() || !l.warnedProxyOnly.CompareAndSwap(false, true) {
		return
	}
	l.notice(ctx, Notice{
		Kind:  NoticeProxyOnly,
		Level: slog.LevelWarn,
		Message: "a request from a trusted proxy named no client beyond the trusted proxies " +
			"(no usable forwarding header); it is limited under the proxy's address, so all such " +
			"requests share one budget (reported once)",
		Attrs: []slog.Attr{slog.String("proxy", c.addr.String()), slog.String("policy", l.policy.Name)},
	})
}

// reportInvalid reports, once per policy name, a resolved policy that
// failed validation.
func (l *Limiter) reportInvalid(ctx context.Context, name string, err error) {
	if !l.invalid.add(name) {
		return
	}
	l.notice(ctx, Notice{
		Kind:  NoticeInvalidPolicy,
		Level: slog.LevelError,
		Message: "a resolved policy is invalid; its requests are decided under the limiter's own policy " +
			"(reported once per name)",
		Attrs: []slog.Attr{slog.String("policy", name), slog.String("default", l.policy.Name),
			slog.String("error", err.Error())},
	})
}

func trimSlash(p string) string {
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	if p == "/" {
		return ""
	}
	return p
}
