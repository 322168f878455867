package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/notify/email"
)

// mailServer is an SMTP server on 127.0.0.1 that keeps what it receives.
type mailServer struct {
	host string
	port int

	user, pass string           // when set, AUTH PLAIN is offered and required
	rcptErr    map[string]error // answer to RCPT TO per recipient

	mu    sync.Mutex
	mails []received
}

type received struct {
	from     string
	to       []string
	data     []byte
	authUser string
	tls      bool
}

type serverOption func(*smtp.Server, *mailServer)

// withTLS offers STARTTLS with cert (or, with implicit, speaks TLS from the start).
func withTLS(cert tls.Certificate, implicit bool) serverOption {
	return func(s *smtp.Server, _ *mailServer) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		if implicit {
			s.Network = "implicit"
		}
	}
}

func withAuth(user, pass string) serverOption {
	return func(s *smtp.Server, ms *mailServer) {
		ms.user, ms.pass = user, pass
		s.AllowInsecureAuth = true // credentials over plain TCP: fine on 127.0.0.1 in a test
	}
}

func withRcptErr(addr string, err error) serverOption {
	return func(_ *smtp.Server, ms *mailServer) {
		if ms.rcptErr == nil {
			ms.rcptErr = map[string]error{}
		}
		ms.rcptErr[addr] = err
	}
}

func startServer(t *testing.T, opts ...serverOption) *mailServer {
	t.Helper()
	ms := &mailServer{}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{srv: ms, conn: c, tls: isTLS}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	for _, o := range opts {
		o(s, ms)
	}
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.Network == "implicit" {
		s.Network = "tcp"
		l = tls.NewListener(l, s.TLSConfig)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	addr := l.Addr().(*net.TCPAddr)
	ms.host, ms.port = "127.0.0.1", addr.Port
	return ms
}

func (ms *mailServer) received() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.mails...)
}

type session struct {
	srv  *mailServer
	conn *smtp.Conn
	tls  bool
	user string
	cur  received
}

func (s *session) AuthMechanisms() []string {
	if s.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.srv.user || pass != s.srv.pass {
			// A careless server that repeats the password it was given.
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
				Message: "authentication failed for " + user + " with password " + pass}
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	if _, ok := s.conn.TLSConnectionState(); ok {
		s.tls = true
	}
	s.cur = received{from: from, authUser: s.user, tls: s.tls}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.srv.rcptErr[to]; err != nil {
		return err
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

func message() notify.Message {
	return notify.Message{
		ID: 4711, Attempt: 1, Method: notify.Email, Target: "alice@example.com",
		AlertID: 42, Summary: `Disk <b>full</b> & "hot" on db-1`, Details: "95% used on /var\n<script>alert(1)</script>",
		Priority: "HIGH", Status: "PENDING", Source: "Prometheus", AlertKey: "disk-db-1",
		ReportAt:   time.Date(2026, 3, 29, 1, 29, 0, 0, time.UTC),
		AlertURL:   "https://tocsin.example.com/alerts/42",
		AcceptURL:  "https://tocsin.example.com/r/accept/tok1?a=1&b=2",
		ResolveURL: "https://tocsin.example.com/r/resolve/tok2",
	}
}

func config(ms *mailServer) email.Config {
	return email.Config{
		Host: ms.host, Port: ms.port, From: "tocsin <alerts@tocsin.example.com>",
		TLS: email.TLSNone, Timeout: 5 * time.Second,
	}
}

func mustNew(t *testing.T, cfg email.Config) *email.Channel {
	t.Helper()
	c, err := email.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parsed is a received email taken apart.
type parsed struct {
	header      mail.Header
	subject     string
	text, html  string
	contentType string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received mail does not parse: %v\n%s", err, data)
	}
	var p parsed
	p.header = msg.Header
	p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	p.contentType = mt
	if mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %s, want multipart/alternative\n%s", mt, data)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// multipart decodes quoted-printable itself; base64 is left to us.
		var r io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			r = base64.NewDecoder(base64.StdEncoding, part)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch pt {
		case "text/plain":
			p.text = string(body)
		case "text/html":
			p.html = string(body)
		default:
			t.Errorf("unexpected part %s", pt)
		}
	}
	return p
}

func TestSend(t *testing.T) {
	ms := startServer(t)
	ch := mustNew(t, config(ms))
	m := message()
	if err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	mails := ms.received()
	if len(mails) != 1 {
		t.Fatalf("server received %d mails, want 1", len(mails))
	}
	got := mails[0]
	if got.from != "alerts@tocsin.example.com" {
		t.Errorf("MAIL FROM = %q", got.from)
	}
	if len(got.to) != 1 || got.to[0] != "alice@example.com" {
		t.Errorf("RCPT TO = %v, want [alice@example.com]", got.to)
	}
	p := parse(t, got.data)
	if want := `[tocsin] HIGH: Disk <b>full</b> & "hot" on db-1`; p.subject != want {
		t.Errorf("Subject = %q, want %q", p.subject, want)
	}
	if id := p.header.Get("Message-Id"); id != "<tocsin.4711.1@tocsin.example.com>" {
		t.Errorf("Message-ID = %q", id)
	}
	if id := p.header.Get("X-Tocsin-Alert-Id"); id != "42" {
		t.Errorf("X-Tocsin-Alert-Id = %q, want 42", id)
	}
	if d := p.header.Get("X-Tocsin-Delivery"); d != "4711-1" {
		t.Errorf("X-Tocsin-Delivery = %q, want 4711-1", d)
	}
	if p.header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", p.header.Get("Auto-Submitted"))
	}

	// Plain text: everything, verbatim.
	for _, want := range []string{
		`Disk <b>full</b> & "hot" on db-1`, "95% used on /var", "Priority: HIGH", "Status:   PENDING",
		"Source:   Prometheus", "Alert:    #42", "Sun, 29 Mar 2026 01:29:00 UTC",
		"Accept:  https://tocsin.example.com/r/accept/tok1?a=1&b=2",
		"Resolve: https://tocsin.example.com/r/resolve/tok2",
		"Open:    https://tocsin.example.com/alerts/42",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text part does not contain %q:\n%s", want, p.text)
		}
	}
	// HTML: the same, escaped.
	for _, want := range []string{
		`Disk &lt;b&gt;full&lt;/b&gt; &amp; &#34;hot&#34; on db-1`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
		`href="https://tocsin.example.com/r/accept/tok1?a=1&amp;b=2"`,
		`href="https://tocsin.example.com/r/resolve/tok2"`,
		`href="https://tocsin.example.com/alerts/42"`,
		"HIGH", "PENDING", "Prometheus", "#42",
	} {
		if !strings.Contains(p.html, want) {
			t.Errorf("HTML part does not contain %q:\n%s", want, p.html)
		}
	}
	for _, bad := range []string{"<b>full</b>", "<script>"} {
		if strings.Contains(p.html, bad) {
			t.Errorf("HTML part contains unescaped %q", bad)
		}
	}
}

func TestSendMessageIDIdentifiesTheAttempt(t *testing.T) {
	ms := startServer(t)
	ch := mustNew(t, config(ms))
	m := message()
	for _, attempt := range []int{1, 1, 2} {
		m.Attempt = attempt
		if err := ch.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	mails := ms.received()
	if len(mails) != 3 {
		t.Fatalf("received %d mails, want 3", len(mails))
	}
	ids := make([]string, 3)
	for i, ml := range mails {
		ids[i] = parse(t, ml.data).header.Get("Message-Id")
	}
	if ids[0] != ids[1] {
		t.Errorf("resending attempt 1 changed the Message-ID: %s, %s", ids[0], ids[1])
	}
	if ids[1] == ids[2] {
		t.Errorf("attempt 2 has attempt 1's Message-ID %s", ids[2])
	}
	if got := ch.MessageID(m); "<"+got+">" != ids[2] {
		t.Errorf("MessageID = %s, sent %s", got, ids[2])
	}
}

func TestSendLinksOmittedWhenAbsent(t *testing.T) {
	ms := startServer(t)
	m := message()
	m.Status = "RESOLVED"
	m.AcceptURL, m.ResolveURL = "", ""
	if err := mustNew(t, config(ms)).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	p := parse(t, ms.received()[0].data)
	if strings.Contains(p.text, "Accept:") || strings.Contains(p.html, ">Accept<") {
		t.Errorf("an accept link without an AcceptURL")
	}
	if !strings.Contains(p.html, `href="https://tocsin.example.com/alerts/42"`) {
		t.Errorf("the alert link is missing")
	}
	if p.subject != `[tocsin] HIGH RESOLVED: Disk <b>full</b> & "hot" on db-1` {
		t.Errorf("Subject = %q", p.subject)
	}
}

func TestSendStandalone(t *testing.T) {
	ms := startServer(t)
	m := notify.Message{ID: 7, Attempt: 1, Method: notify.Email, Target: "alice@example.com", UserID: 3,
		Purpose: "DUTY", Subject: "On call soon: <primary>",
		Text: "Your on-call shift in <primary> starts at 09:00 CET.\nHave a quiet one."}
	if err := mustNew(t, config(ms)).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	p := parse(t, ms.received()[0].data)
	if want := "[tocsin] On call soon: <primary>"; p.subject != want {
		t.Errorf("Subject = %q, want %q", p.subject, want)
	}
	if !strings.Contains(strings.ReplaceAll(p.text, "\r\n", "\n"), "Your on-call shift in <primary> starts at 09:00 CET.\nHave a quiet one.") {
		t.Errorf("text part lacks the message's text:\n%s", p.text)
	}
	if !strings.Contains(p.html, "Your on-call shift in &lt;primary&gt; starts at 09:00 CET.") {
		t.Errorf("HTML part lacks the escaped text:\n%s", p.html)
	}
	for _, bad := range []string{"Accept", "Resolve", "Open", "Priority", "Alert", "#0", "href="} {
		if strings.Contains(p.text, bad) || strings.Contains(p.html, bad) {
			t.Errorf("a message that is not about an alert contains %q:\n%s\n%s", bad, p.text, p.html)
		}
	}
	for _, h := range []string{"X-Tocsin-Alert-Id", "References", "Importance"} {
		if v := p.header.Get(h); v != "" {
			t.Errorf("%s = %q, want none", h, v)
		}
	}
	if got := p.header.Get("X-Tocsin-Purpose"); got != "DUTY" {
		t.Errorf("X-Tocsin-Purpose = %q, want DUTY", got)
	}
}

func TestSendAuth(t *testing.T) {
	const user, pass = "tocsin", "s3cret-smtp-pa55"
	t.Run("PlainOnLoopback", func(t *testing.T) {
		ms := startServer(t, withAuth(user, pass))
		cfg := config(ms)
		cfg.Username, cfg.Password = user, pass
		if err := mustNew(t, cfg).Send(context.Background(), message()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		mails := ms.received()
		if len(mails) != 1 || mails[0].authUser != user {
			t.Fatalf("received %d mails, authenticated as %q", len(mails), mails[0].authUser)
		}
	})
	t.Run("WithoutCredentialsRefusedPermanently", func(t *testing.T) {
		ms := startServer(t, withAuth(user, pass))
		err := mustNew(t, config(ms)).Send(context.Background(), message())
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		if len(ms.received()) != 0 {
			t.Fatal("server accepted mail without authentication")
		}
	})
	t.Run("WrongPasswordIsPermanentAndRedacted", func(t *testing.T) {
		ms := startServer(t, withAuth(user, "the-right-one"))
		cfg := config(ms)
		cfg.Username, cfg.Password = user, pass
		err := mustNew(t, cfg).Send(context.Background(), message())
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		if !strings.Contains(err.Error(), "535") {
			t.Errorf("error %q does not carry the server's 535", err)
		}
		t.Log(err)
		if strings.Contains(err.Error(), pass) {
			t.Errorf("error %q contains the password", err)
		}
		if !strings.Contains(err.Error(), "with password "+notify.Redacted) {
			t.Errorf("error %q: the server's answer should be kept, with the password redacted", err)
		}
	})
}

func TestSendClassification(t *testing.T) {
	t.Run("4xxIsRetryable", func(t *testing.T) {
		ms := startServer(t, withRcptErr("alice@example.com", &smtp.SMTPError{
			Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}))
		err := mustNew(t, config(ms)).Send(context.Background(), message())
		if err == nil || !notify.IsRetryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
		if !strings.Contains(err.Error(), "451") {
			t.Errorf("error %q does not carry the server's answer", err)
		}
	})
	t.Run("550IsPermanent", func(t *testing.T) {
		ms := startServer(t, withRcptErr("alice@example.com", &smtp.SMTPError{
			Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}))
		err := mustNew(t, config(ms)).Send(context.Background(), message())
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want permanent", err)
		}
		if !strings.Contains(err.Error(), "no such user") {
			t.Errorf("error %q does not carry the server's answer", err)
		}
	})
	t.Run("ConnectionRefusedIsRetryable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cfg := email.Config{Host: "127.0.0.1", Port: port, From: "alerts@example.com", TLS: email.TLSNone, Timeout: 2 * time.Second}
		err = mustNew(t, cfg).Send(context.Background(), message())
		if err == nil || !notify.IsRetryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})
	t.Run("SilentServerTimesOutRetryably", func(t *testing.T) {
		// Accepts the connection and never greets.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		cfg := email.Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, From: "alerts@example.com",
			TLS: email.TLSNone, Timeout: 300 * time.Millisecond}
		start := time.Now()
		err = mustNew(t, cfg).Send(context.Background(), message())
		if err == nil || !notify.IsRetryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Send took %v with a 300ms timeout", d)
		}
	})
	t.Run("InvalidRecipientIsPermanent", func(t *testing.T) {
		ms := startServer(t)
		m := message()
		m.Target = "not an address"
		err := mustNew(t, config(ms)).Send(context.Background(), m)
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want permanent", err)
		}
	})
}

func TestSendTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	t.Run("StartTLS", func(t *testing.T) {
		ms := startServer(t, withTLS(cert, false), withAuth("u", "p4ss-over-tls"))
		cfg := config(ms)
		cfg.TLS, cfg.RootCAs = email.TLSStartTLS, pool
		cfg.Username, cfg.Password = "u", "p4ss-over-tls"
		if err := mustNew(t, cfg).Send(context.Background(), message()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		mails := ms.received()
		if len(mails) != 1 || !mails[0].tls || mails[0].authUser != "u" {
			t.Fatalf("mails %d; want one, over TLS, authenticated", len(mails))
		}
	})
	t.Run("Implicit", func(t *testing.T) {
		ms := startServer(t, withTLS(cert, true))
		cfg := config(ms)
		cfg.TLS, cfg.RootCAs = email.TLSImplicit, pool
		if err := mustNew(t, cfg).Send(context.Background(), message()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		mails := ms.received()
		if len(mails) != 1 || !mails[0].tls {
			t.Fatalf("mails %d; want one, over TLS", len(mails))
		}
	})
	t.Run("StartTLSRequired", func(t *testing.T) {
		ms := startServer(t) // offers no STARTTLS
		cfg := config(ms)
		cfg.TLS = email.TLSStartTLS
		err := mustNew(t, cfg).Send(context.Background(), message())
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		if len(ms.received()) != 0 {
			t.Fatal("mail sent in clear text although starttls was configured")
		}
	})
	t.Run("UntrustedCertificateIsPermanent", func(t *testing.T) {
		ms := startServer(t, withTLS(cert, false))
		cfg := config(ms)
		cfg.TLS = email.TLSStartTLS // RootCAs nil: the system's, which do not know this certificate
		err := mustNew(t, cfg).Send(context.Background(), message())
		if err == nil || notify.IsRetryable(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error %q does not say the certificate is the problem", err)
		}
		if len(ms.received()) != 0 {
			t.Fatal("mail sent to a server with an untrusted certificate")
		}
	})
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tocsin test SMTP"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestConfigValidate(t *testing.T) {
	good := email.Config{Host: "smtp.example.com", From: "tocsin <alerts@example.com>", Username: "u", Password: "pw-9x7-secret"}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	for _, tt := range []struct {
		name   string
		change func(*email.Config)
		want   string
	}{
		{"ErrHostRequired", func(c *email.Config) { c.Host = "" }, "host is required"},
		{"ErrPort", func(c *email.Config) { c.Port = 70000 }, "port 70000"},
		{"ErrFromRequired", func(c *email.Config) { c.From = "" }, "from address is required"},
		{"ErrFromInvalid", func(c *email.Config) { c.From = "tocsin at example" }, "not an email address"},
		{"ErrTLSMode", func(c *email.Config) { c.TLS = "ssl" }, `TLS mode "ssl"`},
		{"ErrPasswordWithoutUser", func(c *email.Config) { c.Username = "" }, "set both or neither"},
		{"ErrUserWithoutPassword", func(c *email.Config) { c.Password = "" }, "set both or neither"},
		{"ErrCleartextPassword", func(c *email.Config) { c.TLS = email.TLSNone }, "unencrypted"},
		{"ErrNegativeTimeout", func(c *email.Config) { c.Timeout = -1 }, "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), c.Password) && c.Password != "" {
				t.Fatalf("Validate error %q contains the password", err)
			}
		})
	}
	t.Run("CleartextPasswordToLoopbackAllowed", func(t *testing.T) {
		c := good
		c.Host, c.TLS = "127.0.0.1", email.TLSNone
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
