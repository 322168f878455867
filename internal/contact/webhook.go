package contact

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/notify/netguard"
)

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
		return fault.Errorf("webhook URL %q points at this host; private webhook addresses are not allowed on this server (--allow-private-webhooks)", raw)
	}
	return nil
}

// checkWebhookAddr classifies addr as the sender's dialer does (netguard.Classify, which also
// reads IPv4 addresses embedded in IPv6). Loopback, private and shared (CGNAT) addresses may
// hold a self-hosted receiver and pass with allowPrivate; link-local addresses, where cloud
// metadata services answer, and unspecified, multicast and reserved ones never pass.
func checkWebhookAddr(raw string, addr netip.Addr, allowPrivate bool) error {
	switch kind := netguard.Classify(addr.WithZone("")); kind {
	case netguard.Public:
		return nil
	case netguard.Loopback, netguard.Private, netguard.Shared:
		if allowPrivate {
			return nil
		}
		return fault.Errorf("webhook URL %q: %s is a %s address; private webhook addresses are not allowed on this server (--allow-private-webhooks)", raw, addr, kind)
	default:
		return fault.Errorf("webhook URL %q: %s is a %s address, which a webhook may not use", raw, addr, kind)
	}
}
