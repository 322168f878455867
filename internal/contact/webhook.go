package contact

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// internalPrefixes are address ranges that are not on the public internet but may hold a
// self-hosted webhook receiver: loopback, RFC 1918 and RFC 6598 networks, IPv6 unique local
// addresses. They are refused unless private webhooks are allowed.
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
}

// forbiddenPrefixes are never a webhook's destination, allowed or not: "this network" and the
// unspecified address (which connect to the local host), link-local ranges (where cloud
// metadata services answer, 169.254.169.254), multicast, and reserved or benchmarking ranges.
var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// ValidateWebhookURL checks that raw may be a webhook's destination, as far as can be told
// without resolving names: an absolute http or https URL, without user:password, whose host is
// a DNS name or a public IP address. With allowPrivate, loopback and private-network addresses
// (and "localhost") pass too; link-local, unspecified, multicast and reserved addresses never do.
//
// A name can still resolve to a private address, so the sender checks the address it
// connects to again; this check refuses what is wrong on its face, when the contact is saved.
func ValidateWebhookURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fault.Errorf("webhook URL %q is not a valid URL", raw)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fault.Errorf("webhook URL %q must start with https:// or http://", raw)
	case u.User != nil:
		return fault.Errorf("webhook URL must not hold a user name or password; the body is signed with the contact's secret instead")
	case u.Opaque != "" || u.Host == "":
		return fault.Errorf("webhook URL %q has no host", raw)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return fault.Errorf("webhook URL %q has no host", raw)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fault.Errorf("webhook URL %q has an invalid port", raw)
		}
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return checkWebhookAddr(raw, addr, allowPrivate)
	}
	// A name whose last label is a number is no DNS name; some resolvers read "2130706433",
	// "0x7f.1" or "127.1" as 127.0.0.1.
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := labels[len(labels)-1]
	if last == "" || strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		return fault.Errorf("webhook URL %q: host %q is neither a DNS name nor an IP address in standard form", raw, host)
	}
	if !allowPrivate && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
		return fault.Errorf("webhook URL %q points at this host; private webhook addresses are not allowed on this server (TOCSIN_ALLOW_PRIVATE_WEBHOOKS)", raw)
	}
	return nil
}

func checkWebhookAddr(raw string, addr netip.Addr, allowPrivate bool) error {
	addr = addr.Unmap().WithZone("")
	for _, p := range forbiddenPrefixes {
		if p.Contains(addr) {
			return fault.Errorf("webhook URL %q: %s is a link-local, unspecified, multicast or reserved address, which a webhook may not use", raw, addr)
		}
	}
	if allowPrivate {
		return nil
	}
	for _, p := range internalPrefixes {
		if p.Contains(addr) {
			return fault.Errorf("webhook URL %q: %s is a loopback or private address; private webhook addresses are not allowed on this server (TOCSIN_ALLOW_PRIVATE_WEBHOOKS)", raw, addr)
		}
	}
	return nil
}
