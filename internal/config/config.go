// Package config reads tocsin's settings from command-line flags and TOCSIN_* environment
// variables. A flag given on the command line wins over the environment.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Serve is the configuration of `tocsin serve`.
type Serve struct {
	Addr            string
	DB              string
	PublicURL       string
	EventRate       float64
	EventBurst      int
	AdminEmail      string
	ShutdownTimeout time.Duration
	LogLevel        string
	LinkTTL         time.Duration
	ClaimLease      time.Duration
	// Messages per minute this replica sends per method and per user; 0 means no cap.
	RatePerMethod map[string]*int
	RatePerUser   int

	SMTP   SMTP
	Twilio Twilio
	// AllowPrivateWebhooks lets webhook contacts point at loopback and private addresses
	// (a self-hosted receiver on the same network); off by default against SSRF.
	AllowPrivateWebhooks bool
}

// SMTP configures the EMAIL channel; it is off while Host is empty.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	TLS      string // none, starttls or tls
}

// Twilio configures the SMS and VOICE channels; they are off while AccountSID is empty.
type Twilio struct {
	AccountSID string
	AuthToken  string
	From       string
	BaseURL    string
}

// DefaultDB is the SQLite file used when --db is not given.
const DefaultDB = "./tocsin.db"

// ServeFlags defines the serve flags on fs and returns the value they fill.
func ServeFlags(fs *flag.FlagSet) *Serve {
	c := &Serve{}
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	DBFlag(fs, &c.DB)
	fs.StringVar(&c.PublicURL, "public-url", "", "base URL of tocsin as users reach it, used in links (default http://<addr>)")
	fs.Float64Var(&c.EventRate, "event-rate", 20, "events per second allowed per integration key (0: no limit)")
	fs.IntVar(&c.EventBurst, "event-burst", 600, "events an integration key may send at once above its rate")
	fs.StringVar(&c.AdminEmail, "admin-email", "admin@localhost", "email of the administrator created on an empty database")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown waits for requests in flight")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.LinkTTL, "link-ttl", 24*time.Hour, "how long the accept and resolve links in notifications stay valid")
	c.RatePerMethod = map[string]*int{}
	for _, m := range []string{"email", "sms", "voice", "webhook"} {
		c.RatePerMethod[m] = fs.Int("rate-"+m, 0, "messages per minute sent by "+m+" (0: no cap)")
	}
	fs.IntVar(&c.RatePerUser, "rate-per-user", 60, "messages per minute one user may be sent (0: no cap)")
	fs.DurationVar(&c.ClaimLease, "claim-lease", time.Minute, "how long a replica's claim on due work lasts: after a crash, the work is taken over this much later")
	fs.StringVar(&c.SMTP.Host, "smtp-host", "", "SMTP server for email notifications (email is off without it)")
	fs.IntVar(&c.SMTP.Port, "smtp-port", 587, "SMTP port")
	fs.StringVar(&c.SMTP.Username, "smtp-username", "", "SMTP user name")
	fs.StringVar(&c.SMTP.Password, "smtp-password", "", "SMTP password (or TOCSIN_SMTP_PASSWORD_FILE)")
	fs.StringVar(&c.SMTP.From, "smtp-from", "", "sender address of notification emails")
	fs.StringVar(&c.SMTP.TLS, "smtp-tls", "starttls", "none, starttls or tls")
	fs.StringVar(&c.Twilio.AccountSID, "twilio-account-sid", "", "Twilio account SID for SMS and voice (off without it)")
	fs.StringVar(&c.Twilio.AuthToken, "twilio-auth-token", "", "Twilio auth token (or TOCSIN_TWILIO_AUTH_TOKEN_FILE)")
	fs.StringVar(&c.Twilio.From, "twilio-from", "", "the phone number SMS and calls come from, in E.164")
	fs.StringVar(&c.Twilio.BaseURL, "twilio-base-url", "https://api.twilio.com", "Twilio's API, or a compatible service")
	fs.BoolVar(&c.AllowPrivateWebhooks, "allow-private-webhooks", false, "let webhook contacts use loopback and private addresses")
	return c
}

// DBFlag defines --db.
func DBFlag(fs *flag.FlagSet, dst *string) {
	fs.StringVar(dst, "db", DefaultDB, "SQLite file path, or a postgres:// URL")
}

// Validate checks the values and fills derived defaults.
func (c *Serve) Validate() error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	if c.DB == "" {
		return errors.New("--db is empty")
	}
	if c.PublicURL == "" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--public-url %q must be an http or https URL", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.EventRate < 0 || c.EventBurst < 1 {
		return errors.New("--event-rate must be 0 or more and --event-burst 1 or more")
	}
	for m, n := range c.RatePerMethod {
		if *n < 0 {
			return fmt.Errorf("--rate-%s must be 0 or more", m)
		}
	}
	if c.RatePerUser < 0 {
		return errors.New("--rate-per-user must be 0 or more")
	}
	if c.ClaimLease < time.Second || c.ClaimLease > time.Hour {
		return errors.New("--claim-lease must be between 1s and 1h")
	}
	if c.LinkTTL < time.Minute || c.LinkTTL > 30*24*time.Hour {
		return errors.New("--link-ttl must be between 1m and 720h")
	}
	for _, secret := range []struct {
		dst  *string
		name string
	}{{&c.SMTP.Password, "smtp-password"}, {&c.Twilio.AuthToken, "twilio-auth-token"}} {
		if file := os.Getenv(EnvName(secret.name) + "_FILE"); file != "" && *secret.dst == "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("%s_FILE: %w", EnvName(secret.name), err)
			}
			*secret.dst = strings.TrimSpace(string(b))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q is not one of debug, info, warn, error", c.LogLevel)
	}
	return nil
}

// Parse parses args into fs after applying environment variables: each flag --some-name
// reads TOCSIN_SOME_NAME, and the command line overrides it.
func Parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok && err == nil {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

// EnvName is the environment variable of a flag: --public-url reads TOCSIN_PUBLIC_URL.
func EnvName(flagName string) string {
	return "TOCSIN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Defaults returns the serve configuration with every flag at its default, for programs that
// start a server themselves (tests, the benchmark).
func Defaults() *Serve {
	return ServeFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
}
