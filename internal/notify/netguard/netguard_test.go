package netguard_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/notify/netguard"
)

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want netguard.Kind
	}{
		{"127.0.0.1", netguard.Loopback},
		{"127.8.9.10", netguard.Loopback},
		{"::1", netguard.Loopback},
		{"::ffff:127.0.0.1", netguard.Loopback},
		{"10.0.0.1", netguard.Private},
		{"172.16.0.1", netguard.Private},
		{"172.31.255.255", netguard.Private},
		{"192.168.1.1", netguard.Private},
		{"fd00::1", netguard.Private},
		{"fc00::1", netguard.Private},
		{"fec0::1", netguard.Private},
		{"100.64.0.1", netguard.Shared},
		{"100.127.255.254", netguard.Shared},
		{"169.254.169.254", netguard.LinkLocal},
		{"fe80::1", netguard.LinkLocal},
		{"0.0.0.0", netguard.Unspecified},
		{"0.1.2.3", netguard.Unspecified},
		{"::", netguard.Unspecified},
		{"224.0.0.1", netguard.Multicast},
		{"239.255.255.250", netguard.Multicast},
		{"ff02::1", netguard.Multicast},
		{"255.255.255.255", netguard.Reserved},
		{"240.0.0.1", netguard.Reserved},
		{"64:ff9b::a9fe:a9fe", netguard.LinkLocal},                  // NAT64 of 169.254.169.254
		{"2002:7f00:1::1", netguard.Loopback},                       // 6to4 of 127.0.0.1
		{"::127.0.0.1", netguard.Loopback},                          // IPv4-compatible
		{"::169.254.169.254", netguard.LinkLocal},                   // IPv4-compatible
		{"::8.8.8.8", netguard.Public},                              // IPv4-compatible, public
		{"fd00:ec2::254", netguard.Metadata},                        // a cloud's IPv6 metadata service
		{"64:ff9b:1::a9fe:a9fe", netguard.Reserved},                 // local-use NAT64
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", netguard.Reserved}, // Teredo
		{"192.0.0.8", netguard.Reserved},
		{"198.18.0.1", netguard.Reserved},
		{"198.19.255.254", netguard.Reserved},
		// Public neighbours of the blocked ranges.
		{"8.8.8.8", netguard.Public},
		{"172.32.0.1", netguard.Public},
		{"100.128.0.1", netguard.Public},
		{"169.253.255.255", netguard.Public},
		{"2001:4860:4860::8888", netguard.Public},
		{"64:ff9b::808:808", netguard.Public},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			if got := netguard.Classify(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Classify(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	strict := netguard.Config{}
	lenient := netguard.Config{AllowPrivate: true}
	one := netguard.Config{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}}
	for _, tt := range []struct {
		name string
		cfg  netguard.Config
		addr string
		ok   bool
	}{
		{"StrictRefusesLoopback", strict, "127.0.0.1", false},
		{"StrictRefusesMetadata", strict, "169.254.169.254", false},
		{"StrictRefusesCGNAT", strict, "100.64.1.1", false},
		{"StrictAllowsPublic", strict, "93.184.216.34", true},
		{"AllowPrivateAllowsLoopback", lenient, "127.0.0.1", true},
		{"AllowPrivateAllowsRFC1918", lenient, "192.168.0.10", true},
		{"AllowPrivateStillRefusesUnspecified", lenient, "0.0.0.0", false},
		{"AllowPrivateStillRefusesMulticast", lenient, "224.0.0.1", false},
		{"AllowPrivateStillRefusesMetadata", lenient, "169.254.169.254", false},
		{"AllowPrivateStillRefusesIPv6Metadata", lenient, "fd00:ec2::254", false},
		{"AllowPrivateAllowsOtherULA", lenient, "fd00:ec3::1", true},
		{"AllowListAllowsItsPrefix", one, "10.1.2.3", true},
		{"AllowListRefusesTheRest", one, "10.1.3.3", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Check(netip.MustParseAddr(tt.addr))
			if tt.ok && err != nil {
				t.Fatalf("Check(%s) = %v, want allowed", tt.addr, err)
			}
			if !tt.ok && !errors.Is(err, netguard.ErrRefused) {
				t.Fatalf("Check(%s) = %v, want ErrRefused", tt.addr, err)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	cfg := netguard.Config{}
	for _, raw := range []string{"ftp://example.com/x", "file:///etc/passwd", "http://127.0.0.1:8080/", "http://[::1]/", "https:///nohost"} {
		if err := cfg.CheckURL(raw); err == nil {
			t.Errorf("CheckURL(%q) = nil, want an error", raw)
		}
	}
	for _, raw := range []string{"https://hooks.example.com/x?y=1", "http://93.184.216.34/"} {
		if err := cfg.CheckURL(raw); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", raw, err)
		}
	}
}

// loopbackServer counts the requests that reach it.
func loopbackServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestClient(t *testing.T) {
	t.Run("RefusesLoopback", func(t *testing.T) {
		srv, hits := loopbackServer(t)
		c := netguard.Config{Timeout: 5 * time.Second}.Client()
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			t.Fatal("request to 127.0.0.1 succeeded, want it refused")
		}
		if !errors.Is(err, netguard.ErrRefused) {
			t.Fatalf("err = %v, want ErrRefused", err)
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("server saw %d requests, want 0", n)
		}
	})
	t.Run("RefusesNameResolvingToLoopback", func(t *testing.T) {
		// The URL names no address; only the check after resolution can catch it.
		srv, hits := loopbackServer(t)
		u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
		cfg := netguard.Config{Timeout: 5 * time.Second}
		if err := cfg.CheckURL(u); err != nil {
			t.Fatalf("CheckURL(%q) = %v; a name is only checked at connect time", u, err)
		}
		resp, err := cfg.Client().Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatal("request to localhost succeeded, want it refused")
		}
		if !errors.Is(err, netguard.ErrRefused) {
			t.Fatalf("err = %v, want ErrRefused", err)
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("server saw %d requests, want 0", n)
		}
	})
	t.Run("AllowsLoopbackWhenAllowed", func(t *testing.T) {
		srv, hits := loopbackServer(t)
		c := netguard.Config{AllowPrivate: true, Timeout: 5 * time.Second}.Client()
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("request with AllowPrivate: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || hits.Load() != 1 {
			t.Fatalf("status %d, hits %d; want 204 and 1", resp.StatusCode, hits.Load())
		}
	})
	t.Run("DoesNotFollowRedirects", func(t *testing.T) {
		target, hits := loopbackServer(t)
		redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
		t.Cleanup(redirector.Close)
		c := netguard.Config{AllowPrivate: true, Timeout: 5 * time.Second}.Client()
		resp, err := c.Get(redirector.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || hits.Load() != 0 {
			t.Fatalf("status %d, target hits %d; want 302 and 0", resp.StatusCode, hits.Load())
		}
	})
}
