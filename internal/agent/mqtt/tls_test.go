package mqtt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

// pki is a CA with a server certificate for 127.0.0.1 and a client certificate, as PEM files.
type pki struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyFile := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tocsin test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	cliDER, cliKey := leaf(3, "agent", x509.ExtKeyUsageClientAuth, nil)
	return pki{
		CA:         write("ca.pem", "CERTIFICATE", caDER),
		ServerCert: write("server.pem", "CERTIFICATE", srvDER),
		ServerKey:  keyFile("server.key", srvKey),
		ClientCert: write("client.pem", "CERTIFICATE", cliDER),
		ClientKey:  keyFile("client.key", cliKey),
	}
}

// TestTLS: the consumer connects with TLS, checking the broker against --mqtt_ca, to a broker
// that asks for a client certificate.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	b := startBroker(t, // a plain listener for the test's publisher, and a TLS one for the agent
		fmt.Sprintf("listener %d 127.0.0.1", tlsPort),
		"cafile "+p.CA, "certfile "+p.ServerCert, "keyfile "+p.ServerKey, "require_certificate true")

	srv := agenttest.NewServer(t)
	base := unique(t)
	cfg := testConfig(t, mapping.Topics{Event: base})
	cfg.Host, cfg.Port = "127.0.0.1", tlsPort
	cfg.TLS, cfg.CA, cfg.ClientCert, cfg.ClientKey = true, p.CA, p.ClientCert, p.ClientKey
	start(t, cfg, byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil)
	publish(t, "127.0.0.1", b.Port, base, events("secure")...)
	agenttest.Eventually(t, 10*time.Second, "not delivered over TLS", func() bool { return len(srv.Summaries()) == 1 })
	if got := srv.Summaries(); !slices.Equal(got, []string{"secure"}) {
		t.Errorf("events: %q", got)
	}

	t.Run("ErrWithoutClientCertificate", func(t *testing.T) {
		cfg := cfg
		cfg.ClientID += "-nocert"
		cfg.ClientCert, cfg.ClientKey = "", ""
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		c := startUnready(t, cfg, srv)
		time.Sleep(500 * time.Millisecond)
		if s := c.Status(); s.Ready || s.Error == "" {
			t.Errorf("status %+v, want not ready with an error", s)
		}
	})
}
