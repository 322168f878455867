// Package server assembles a running tocsin: database, group commit, API and HTTP listener,
// and takes them down in order.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/api"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/config"
	"github.com/tocsinhq/tocsin/internal/engine"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/heartbeat"
	"github.com/tocsinhq/tocsin/internal/ingest"
	"github.com/tocsinhq/tocsin/internal/metrics"
	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/notify/email"
	"github.com/tocsinhq/tocsin/internal/notify/twilio"
	"github.com/tocsinhq/tocsin/internal/notify/webhook"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Server is a started tocsin.
type Server struct {
	DB       *store.DB
	Metrics  *metrics.Metrics
	URL      string // where the listener is, e.g. http://127.0.0.1:8080
	http     *http.Server
	ingest   *ingest.Committer
	log      *slog.Logger
	done     chan error
	shutdown time.Duration

	stopEngine context.CancelFunc
	engineDone chan struct{}

	stopHeartbeats context.CancelFunc
	heartbeatsDone chan struct{}
}

// Start opens and migrates the database, creates the first administrator on an empty one
// (telling out how to sign in), and starts serving on cfg.Addr.
func Start(ctx context.Context, cfg *config.Serve, log *slog.Logger, out io.Writer) (*Server, error) {
	// Settings are checked, and the address taken, before the first administrator is
	// created: its password is shown only once, and a start that then failed would lose it.
	channels, tw, err := buildChannels(cfg)
	if err != nil {
		return nil, err
	}
	if tw != nil && strings.HasPrefix(cfg.PublicURL, "http://") {
		log.Warn("--public-url is plain http: Twilio's callbacks, and the links in notifications, travel unencrypted; put tocsin behind https and give that URL",
			"public_url", cfg.PublicURL)
	}
	minInterval, err := heartbeatMinInterval()
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	linkKey, err := db.Secret(ctx, "link-key")
	if err == nil {
		err = bootstrap(ctx, db, cfg, out)
	}
	if err != nil {
		ln.Close()
		db.Close()
		return nil, err
	}
	m := metrics.New()
	eng := engine.New(engine.Options{Store: db, Directory: directory{db: db, now: time.Now}, Channels: channels, Log: log,
		Links: auth.Links{BaseURL: cfg.PublicURL, Key: []byte(linkKey), TTL: cfg.LinkTTL, Now: time.Now}, Metrics: m,
		Lease: cfg.ClaimLease, Limits: engineLimits(cfg)})
	c := ingest.New(db, m, ingest.Options{Log: log})
	hb := heartbeat.New(heartbeat.Options{Store: db, Log: log, Lease: cfg.ClaimLease, MinIntervalSec: minInterval})
	a := api.New(api.Options{Store: db, Ingest: c, Metrics: m, Log: log, PublicURL: cfg.PublicURL,
		EventRate: cfg.EventRate, EventBurst: cfg.EventBurst, LinkKey: []byte(linkKey), Twilio: tw, Wake: eng.Wake,
		AllowPrivateWebhooks: cfg.AllowPrivateWebhooks, Heartbeats: hb, Planner: eng})
	s := &Server{
		DB:       db,
		Metrics:  m,
		URL:      "http://" + ln.Addr().String(),
		http:     &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute},
		ingest:   c,
		log:      log,
		done:     make(chan error, 1),
		shutdown: cfg.ShutdownTimeout,
	}
	engineCtx, stopEngine := context.WithCancel(context.Background())
	s.stopEngine = stopEngine
	s.engineDone = make(chan struct{})
	go func() {
		defer close(s.engineDone)
		eng.Run(engineCtx)
	}()
	heartbeatCtx, stopHeartbeats := context.WithCancel(context.Background())
	s.stopHeartbeats = stopHeartbeats
	s.heartbeatsDone = make(chan struct{})
	go func() {
		defer close(s.heartbeatsDone)
		hb.Run(heartbeatCtx, a) // its events go through the Events API's path
	}()
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	log.Info("tocsin is serving", "addr", ln.Addr().String(), "db", string(db.Dialect()), "public_url", cfg.PublicURL)
	return s, nil
}

// Done delivers the listener's error if it stops by itself.
func (s *Server) Done() <-chan error { return s.done }

// Shutdown stops accepting connections, lets requests in flight finish, commits the events
// already queued, and closes the database.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.shutdown)
	defer cancel()
	err := s.http.Shutdown(ctx)
	s.stopHeartbeats() // writes the pings it holds; before the group commit closes, which its events use
	<-s.heartbeatsDone
	s.ingest.Close()
	s.stopEngine() // messages being sent finish; what is left is in the database for next time
	<-s.engineDone
	return errors.Join(err, s.DB.Close())
}

// heartbeatMinInterval reads TOCSIN_HEARTBEAT_MIN_INTERVAL, a testing aid rather than a
// setting: it lowers the shortest interval a heartbeat monitor may have (ilert's 25 seconds)
// so that end-to-end tests need not wait that long. It returns the minimum in seconds.
func heartbeatMinInterval() (int, error) {
	v := os.Getenv("TOCSIN_HEARTBEAT_MIN_INTERVAL")
	if v == "" {
		return heartbeat.MinIntervalSec, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d > heartbeat.MinIntervalSec*time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("TOCSIN_HEARTBEAT_MIN_INTERVAL=%q must be whole seconds from 1s to %ds", v, heartbeat.MinIntervalSec)
	}
	return int(d / time.Second), nil
}

// bootstrap creates the first administrator on an empty database and prints, once, how to
// sign in and how to create an API key.
func bootstrap(ctx context.Context, db *store.DB, cfg *config.Serve, out io.Writer) error {
	n, err := db.CountAccounts(ctx)
	if err != nil || n > 0 {
		return err
	}
	password := auth.RandomToken(15)
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	admin := auth.Account{FirstName: "Admin", LastName: "Istrator", Email: cfg.AdminEmail, Role: auth.Admin}
	err = db.CreateAccount(ctx, &admin, hash)
	if fault.Is(err, fault.Conflict) {
		return nil // another replica starting at the same moment created it, and printed it
	}
	if err != nil {
		return fmt.Errorf("create the first administrator: %w", err)
	}
	fmt.Fprintf(out, `
tocsin created the first administrator. This is shown only once:

  email:     %s
  password:  %s

Create an API key with the password:

  curl -s -u '%s:%s' -X POST %s/api/api-keys -d '{"name":"my key"}'

or on this machine, for a new user:

  tocsin user create --db %s --email you@example.com --first-name You --last-name Person --role ADMIN --api-key

`, admin.Email, password, admin.Email, password, cfg.PublicURL, redacted(cfg.DB))
	return nil
}

// redacted hides the password of a database URL.
func redacted(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

// buildChannels makes the configured channels. Webhooks need no configuration; email needs an
// SMTP server, SMS and voice a Twilio account. A method without a channel fails its
// notifications with "not configured", visibly.
func buildChannels(cfg *config.Serve) (map[notify.Method]notify.Channel, *twilio.Config, error) {
	channels := map[notify.Method]notify.Channel{}
	wh, err := webhook.New(webhook.Config{AllowPrivate: cfg.AllowPrivateWebhooks})
	if err != nil {
		return nil, nil, fmt.Errorf("webhook channel: %w", err)
	}
	channels[notify.Webhook] = wh
	if cfg.SMTP.Host != "" {
		ch, err := email.New(email.Config{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username,
			Password: cfg.SMTP.Password, From: cfg.SMTP.From, TLS: email.TLSMode(cfg.SMTP.TLS)})
		if err != nil {
			return nil, nil, fmt.Errorf("email channel: %w", err)
		}
		channels[notify.Email] = ch
	}
	var tw *twilio.Config
	if cfg.Twilio.AccountSID != "" {
		tc := twilio.Config{AccountSID: cfg.Twilio.AccountSID, AuthToken: cfg.Twilio.AuthToken, From: cfg.Twilio.From,
			BaseURL: cfg.Twilio.BaseURL, PublicURL: cfg.PublicURL}
		ch, err := twilio.New(tc)
		if err != nil {
			return nil, nil, fmt.Errorf("twilio channel: %w", err)
		}
		channels[notify.SMS], channels[notify.Voice] = ch, ch
		tw = &tc
	}
	return channels, tw, nil
}

func engineLimits(cfg *config.Serve) engine.Limits {
	l := engine.Limits{PerMethod: map[notify.Method]int{}, PerUser: cfg.RatePerUser}
	for m, n := range cfg.RatePerMethod {
		l.PerMethod[notify.Method(strings.ToUpper(m))] = *n
	}
	return l
}
