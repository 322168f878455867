// Package netguard keeps requests to user-supplied URLs (webhook contacts) away from the
// machine tocsin runs on and the networks behind it.
//
// The check happens when a connection is made, on the address the name resolved to, so a
// host name that resolves (or later re-resolves) to 127.0.0.1 or 169.254.169.254 is refused
// just like the literal address. Checking the URL before sending is a courtesy for a clear
// error message; the dialer is the guard.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every error for a destination the guard does not allow.
var ErrRefused = errors.New("netguard: destination not allowed")

// Config says which destinations are allowed. The zero value allows only public unicast
// addresses.
type Config struct {
	// AllowPrivate also allows loopback, private (RFC 1918, fc00::/7) and shared (CGNAT,
	// 100.64.0.0/10) addresses: for tests and for self-hosted setups whose receivers live on
	// the internal network. Link-local addresses and fd00:ec2::/64 (cloud metadata services
	// live there), unspecified, multicast, broadcast and reserved ones stay refused.
	AllowPrivate bool
	// Allow lists further prefixes that are allowed even though they are not public, for a
	// setup that needs one internal network (10.1.2.0/24) rather than all of them.
	Allow []netip.Prefix
	// Timeout bounds a whole request, from dialing to reading the answer. Zero means 30s.
	Timeout time.Duration
}

// DefaultTimeout is the request timeout when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Kind names the class of a refused address.
type Kind string

const (
	Public      Kind = ""            // allowed
	Loopback    Kind = "loopback"    // 127.0.0.0/8, ::1
	Private     Kind = "private"     // 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10
	Shared      Kind = "shared"      // 100.64.0.0/10 (carrier-grade NAT)
	LinkLocal   Kind = "link-local"  // 169.254.0.0/16 (cloud metadata lives here), fe80::/10
	Unspecified Kind = "unspecified" // 0.0.0.0/8, ::
	Multicast   Kind = "multicast"   // 224.0.0.0/4, ff00::/8
	Reserved    Kind = "reserved"    // 240.0.0.0/4, 255.255.255.255, 192.0.0.0/24, 198.18.0.0/15, 64:ff9b:1::/48, Teredo 2001::/32
	Metadata    Kind = "metadata"    // fd00:ec2::/64, a cloud metadata service's IPv6 address: refused even with AllowPrivate
)

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	shared    = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	reserved  = netip.MustParsePrefix("240.0.0.0/4")
	siteLocal = netip.MustParsePrefix("fec0::/10")
	// IPv4-compatible IPv6 (::a.b.c.d, deprecated) leads to the IPv4 address too.
	v4Compat = netip.MustParsePrefix("::/96")
	// Not public, and not a place a webhook lives: the IETF's protocol assignments, the
	// benchmarking range, local-use NAT64 and Teredo (which hides the IPv4 address it leads to).
	reserved6 = []netip.Prefix{netip.MustParsePrefix("64:ff9b:1::/48"), netip.MustParsePrefix("2001::/32")}
	reserved4 = []netip.Prefix{netip.MustParsePrefix("192.0.0.0/24"), netip.MustParsePrefix("198.18.0.0/15")}
	metadata6 = netip.MustParsePrefix("fd00:ec2::/64")
)

// Classify says which non-public class addr belongs to, or Public. An IPv4 address embedded in
// IPv6 (mapped, IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16) is classified as the
// IPv4 address it leads to.
func Classify(addr netip.Addr) Kind {
	addr = addr.Unmap()
	if addr.Is6() {
		b := addr.As16()
		switch {
		case nat64.Contains(addr):
			return Classify(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(addr):
			return Classify(netip.AddrFrom4([4]byte(b[2:6])))
		case v4Compat.Contains(addr) && !addr.IsUnspecified() && !addr.IsLoopback():
			return Classify(netip.AddrFrom4([4]byte(b[12:16])))
		case siteLocal.Contains(addr):
			return Private
		case metadata6.Contains(addr):
			return Metadata
		}
		for _, p := range reserved6 {
			if p.Contains(addr) {
				return Reserved
			}
		}
	} else {
		for _, p := range reserved4 {
			if p.Contains(addr) {
				return Reserved
			}
		}
	}
	switch {
	case !addr.IsValid(), addr.IsUnspecified(), thisNet.Contains(addr):
		return Unspecified
	case addr.IsLoopback():
		return Loopback
	case addr.IsPrivate():
		return Private
	case shared.Contains(addr):
		return Shared
	case addr.IsLinkLocalUnicast():
		return LinkLocal
	case addr.IsMulticast():
		return Multicast
	case reserved.Contains(addr): // includes 255.255.255.255
		return Reserved
	}
	return Public
}

// Check returns nil if cfg allows connecting to addr, or an error wrapping ErrRefused that
// names the address and why.
func (cfg Config) Check(addr netip.Addr) error {
	addr = addr.Unmap()
	kind := Classify(addr)
	if kind == Public {
		return nil
	}
	for _, p := range cfg.Allow {
		if p.Contains(addr) {
			return nil
		}
	}
	if cfg.AllowPrivate {
		switch kind {
		case Loopback, Private, Shared:
			return nil
		}
	}
	return fmt.Errorf("%w: %s is a %s address", ErrRefused, addr, kind)
}

// CheckURL rejects, before any request, a URL that is not http or https, has no host, or
// names an address literal that cfg refuses. Host names are not resolved here: the dialer
// checks what they resolve to at connect time.
func (cfg Config) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("netguard: not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q (only http and https)", ErrRefused, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("netguard: URL has no host")
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return cfg.Check(addr)
	}
	return nil
}

// control runs after name resolution, right before each connect(2), on the numeric address.
func (cfg Config) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrRefused, address)
	}
	return cfg.Check(ap.Addr())
}

// Dialer returns a dialer that refuses every connection cfg does not allow.
func (cfg Config) Dialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   cfg.timeout(),
		KeepAlive: 30 * time.Second,
		Control:   cfg.control,
	}
}

// Transport returns an HTTP transport that dials through Dialer. It uses no proxy: through a
// proxy, the guard would check the proxy's address and not the destination's.
func (cfg Config) Transport() *http.Transport {
	d := cfg.Dialer()
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          50,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.timeout(),
		ExpectContinueTimeout: time.Second,
	}
}

// Client returns an HTTP client over Transport that does not follow redirects (the caller sees
// the 3xx answer): a receiver should not be able to send tocsin's request somewhere the user
// did not configure.
func (cfg Config) Client() *http.Client {
	return &http.Client{
		Transport: cfg.Transport(),
		Timeout:   cfg.timeout(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func (cfg Config) timeout() time.Duration {
	if cfg.Timeout > 0 {
		return cfg.Timeout
	}
	return DefaultTimeout
}

// DialContext is Dialer().DialContext, for clients of protocols other than HTTP.
func (cfg Config) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return cfg.Dialer().DialContext(ctx, network, address)
}
