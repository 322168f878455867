// Package email sends notifications over SMTP: a plain-text and an HTML part with the alert
// and links to accept, resolve and open it.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tocsinhq/tocsin/internal/notify"
)

// TLSMode is how the connection to the SMTP server is secured.
type TLSMode string

const (
	// TLSNone sends in clear text. Only for a relay on the same machine or a trusted network;
	// credentials are refused unless the host is a loopback address.
	TLSNone TLSMode = "none"
	// TLSStartTLS connects in clear text and requires STARTTLS before anything else (port 587).
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit TLSMode = "tls"
)

// DefaultTimeout bounds one delivery when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config configures the channel.
type Config struct {
	Host     string  // the SMTP server
	Port     int     // zero means the mode's usual port: 25 (none), 587 (starttls), 465 (tls)
	Username string  // empty means no authentication
	Password string  //
	From     string  // "tocsin <alerts@example.com>" or "alerts@example.com"
	TLS      TLSMode // empty means TLSStartTLS
	// Timeout bounds connecting and each SMTP exchange; zero means DefaultTimeout.
	Timeout time.Duration
	// RootCAs are the certificate authorities trusted for the server's certificate; nil means
	// the system's. For a relay with a private CA.
	RootCAs *x509.CertPool
}

// Validate checks that the configuration can work, naming what is wrong.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Host) == "" {
		errs = append(errs, errors.New("host is required"))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is not between 1 and 65535", c.Port))
	}
	if c.From == "" {
		errs = append(errs, errors.New("from address is required"))
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("from address %q is not an email address", c.From))
	}
	switch c.TLS {
	case "", TLSNone, TLSStartTLS, TLSImplicit:
	default:
		errs = append(errs, fmt.Errorf("TLS mode %q is not one of none, starttls, tls", c.TLS))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("username and password go together: set both or neither"))
	}
	if c.TLS == TLSNone && c.Password != "" && !isLoopback(c.Host) {
		errs = append(errs, fmt.Errorf("TLS mode none would send the password to %s unencrypted: use starttls or tls", c.Host))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("email: %w", errors.Join(errs...))
	}
	return nil
}

// isLoopback mirrors the hosts go-mail's PLAIN and LOGIN will authenticate to without TLS.
func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Channel sends EMAIL messages. It is safe for concurrent use.
type Channel struct {
	cfg     Config
	from    *mail.Address
	domain  string // of the from address, for Message-IDs
	secrets []string
}

// New returns a channel for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Channel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = map[TLSMode]int{TLSNone: 25, TLSStartTLS: 587, TLSImplicit: 465}[cfg.TLS]
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	from, _ := mail.ParseAddress(cfg.From)
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	c := &Channel{cfg: cfg, from: from, domain: domain}
	if cfg.Password != "" {
		// The password as such, and as PLAIN and LOGIN put it on the wire.
		c.secrets = []string{
			cfg.Password,
			base64.StdEncoding.EncodeToString([]byte(cfg.Password)),
			base64.StdEncoding.EncodeToString([]byte("\x00" + cfg.Username + "\x00" + cfg.Password)),
		}
	}
	return c, nil
}

// MessageID is the Message-ID of the email for m (without angle brackets). It depends only on
// the message and attempt, so sending the same attempt twice (after a crash between sending
// and recording it) produces the same Message-ID, which mail systems and people can recognise
// as a duplicate.
func (c *Channel) MessageID(m notify.Message) string {
	return fmt.Sprintf("tocsin.%d.%d@%s", m.ID, m.Attempt, c.domain)
}

// threadID is what every email about one alert refers to, so mail clients group them.
func (c *Channel) threadID(m notify.Message) string {
	return fmt.Sprintf("<tocsin.alert.%d@%s>", m.AlertID, c.domain)
}

// Send emails m to m.Target. SMTP 4xx replies, timeouts and broken connections are retryable;
// 5xx replies (no such user, relay denied, authentication failed), a certificate that does not
// verify and an invalid address are permanent. The password never appears in a returned error.
func (c *Channel) Send(ctx context.Context, m notify.Message) error {
	return notify.Redact(c.send(ctx, m), c.secrets...)
}

func (c *Channel) send(ctx context.Context, m notify.Message) error {
	msg, err := c.build(m)
	if err != nil {
		return fmt.Errorf("email: message %d: %w", m.ID, err)
	}
	client, err := gomail.NewClient(c.cfg.Host, c.options()...)
	if err != nil {
		return fmt.Errorf("email: message %d: %w", m.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	err = client.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		// The server took it; a failure after that (RSET, QUIT) does not undo the delivery,
		// and reporting it would send the email again.
		return nil
	}
	if err == nil {
		return fmt.Errorf("email: message %d: the server did not confirm delivery", m.ID)
	}
	err = fmt.Errorf("email: message %d to %s via %s: %w", m.ID, m.Target, net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port)), err)
	if retryable(err) {
		return notify.Retryable(err)
	}
	return err
}

func (c *Channel) options() []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(c.cfg.Port),
		gomail.WithTimeout(c.cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{
			ServerName: c.cfg.Host,
			RootCAs:    c.cfg.RootCAs,
			MinVersion: tls.VersionTLS12,
		}),
	}
	switch c.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	}
	if c.cfg.Username != "" {
		opts = append(opts, gomail.WithUsername(c.cfg.Username), gomail.WithPassword(c.cfg.Password))
		if c.cfg.TLS == TLSNone {
			// Only reached for a loopback host (Validate); go-mail's discovery would rule out
			// PLAIN and LOGIN on a connection without TLS, which local relays often only offer.
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(
				gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5,
				gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
		} else {
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		}
	}
	return opts
}

// retryable classifies a delivery error: the server's reply code when there is one, else
// whether the connection failed.
func retryable(err error) bool {
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch code := se.ErrorCode(); {
		case code >= 500:
			return false
		case code >= 400:
			return true
		}
		switch se.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return false
		}
		return true // no reply code: the connection broke during the exchange
	}
	var te *textproto.Error // a reply during greeting, EHLO, STARTTLS or AUTH
	if errors.As(err, &te) {
		return te.Code >= 400 && te.Code < 500
	}
	var cert *tls.CertificateVerificationError
	if errors.As(err, &cert) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

func (c *Channel) build(m notify.Message) (*gomail.Msg, error) {
	to, err := mail.ParseAddress(m.Target)
	if err != nil {
		return nil, fmt.Errorf("%q is not an email address", m.Target)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(c.from)
	msg.ToMailAddress(to)
	msg.Subject(Subject(m))
	msg.SetMessageIDWithValue(c.MessageID(m))
	msg.SetDate()
	msg.SetUserAgent("tocsin")
	msg.SetGenHeader("X-Tocsin-Delivery", strconv.FormatInt(m.ID, 10)+"-"+strconv.Itoa(m.Attempt))
	msg.SetGenHeader("Auto-Submitted", "auto-generated") // no out-of-office replies (RFC 3834)
	if m.Standalone() {
		if m.Purpose != "" {
			msg.SetGenHeader("X-Tocsin-Purpose", m.Purpose)
		}
	} else {
		msg.SetGenHeader("X-Tocsin-Alert-Id", strconv.FormatInt(m.AlertID, 10))
		msg.SetGenHeader(gomail.HeaderReferences, c.threadID(m))
		if strings.EqualFold(m.Priority, "HIGH") {
			msg.SetImportance(gomail.ImportanceHigh)
		}
	}
	text, html, err := render(m)
	if err != nil {
		return nil, err
	}
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg, nil
}
