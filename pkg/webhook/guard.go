package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is a callback URL, or the address it resolves to,
// in a range callbacks may not reach.
var ErrForbiddenAddress = errors.New("callback address not allowed")

// Guard decides which addresses callbacks may reach: public unicast
// addresses only — never loopback, link-local, private, shared (CGNAT),
// multicast, unspecified or reserved ones — unless Allow holds them, so
// that a submitter cannot make the deliverers call into the network they
// run in (SSRF). A URL is checked when it is submitted (CheckURL) and
// again at every dial (Control), with the address actually dialed, so a
// name that resolves elsewhere by then (DNS rebinding) gains nothing.
type Guard struct {
	// Allow are ranges an operator opens despite the rules above (a
	// receiver on the same private network; loopback in tests).
	Allow []netip.Prefix
	// Resolver resolves names at CheckURL; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// ParseAllow reads a comma-separated list of CIDR prefixes or single
// addresses ("10.1.0.0/16,127.0.0.1"); "" is none.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("allowed callback range %q: want an address or a CIDR prefix", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("allowed callback range %q: want an address or a CIDR prefix", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// reserved are ranges neither Go's address predicates nor IsPrivate
// name, that no callback should reach: "this network", shared address
// space (CGNAT), benchmarking, and the reserved class E.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// Allowed reports whether callbacks may reach a.
func (g *Guard) Allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.Allow {
		if p.Contains(a) {
			return true
		}
	}
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// lookupTimeout bounds the resolution of a callback host at CheckURL.
const lookupTimeout = 2 * time.Second

// CheckURL refuses a callback URL whose host is, or resolves to, an
// address callbacks may not reach (wrapping ErrForbiddenAddress). A name
// that does not resolve now is let through: the dial checks again.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("callback_url: %w", err)
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !g.Allowed(a) {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, a)
		}
		return nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if !g.Allowed(a) {
			return fmt.Errorf("%w: %s resolves to %s", ErrForbiddenAddress, host, a)
		}
	}
	return nil
}

// Control is a net.Dialer Control function that refuses a connection to
// an address callbacks may not reach: it runs after the name was
// resolved, on the very address about to be dialed.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if !g.Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}
