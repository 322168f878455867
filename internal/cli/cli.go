// Package cli implements tocsin's subcommands.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/config"
	"github.com/tocsinhq/tocsin/internal/server"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Version is set at build time with -ldflags "-X github.com/tocsinhq/tocsin/internal/cli.Version=…".
var Version = ""

const usage = `tocsin: alerting, on-call and incident communication

Usage:
  tocsin serve [--addr 127.0.0.1:8080] [--db ./tocsin.db | --db postgres://…] [--public-url URL]
  tocsin migrate [--db …]
  tocsin user create --email E --first-name F --last-name L [--role ADMIN|USER|RESPONDER|STAKEHOLDER|GUEST] [--api-key] [--db …]
  tocsin bench ingest|page|timers [--db postgres://…] (see tocsin bench)
  tocsin agent event|heartbeat|daemon [--server URL] [-f FILE] (the edge agent; see tocsin agent)
  tocsin version

Every flag also reads an environment variable: --public-url reads TOCSIN_PUBLIC_URL.
Run "tocsin <command> -h" for a command's flags.
`

// Main runs the command in args (without the program name) and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "migrate":
		err = migrate(args[1:], stdout, stderr)
	case "user":
		err = user(args[1:], stdout, stderr)
	case "bench":
		err = bench(args[1:], stdout, stderr)
	case "agent":
		err = agentCmd(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "tocsin", version())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "tocsin: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "tocsin:", err)
		return 1
	}
	return 0
}

func version() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tocsin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	cfg := config.ServeFlags(fs)
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := server.Start(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing requests in flight and committing queued events")
	case err := <-srv.Done():
		srv.Shutdown(context.Background())
		return err
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func migrate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	var dsn string
	config.DBFlag(fs, &dsn)
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	db, err := openDB(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stdout, "migrations applied to", db.Dialect(), "database")
	return nil
}

// openDB opens and migrates the database.
func openDB(dsn string) (*store.DB, error) {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func user(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New(`usage: tocsin user create --email E --first-name F --last-name L [--role R] [--api-key]`)
	}
	fs := newFlagSet("user create", stderr)
	var dsn, email, first, last, role string
	var withKey bool
	config.DBFlag(fs, &dsn)
	fs.StringVar(&email, "email", "", "email address (required)")
	fs.StringVar(&first, "first-name", "", "first name (required)")
	fs.StringVar(&last, "last-name", "", "last name (required)")
	fs.StringVar(&role, "role", "USER", "ADMIN, USER, RESPONDER, STAKEHOLDER or GUEST")
	fs.BoolVar(&withKey, "api-key", false, "print a new API key for the user on stdout, as a single line")
	if err := config.Parse(fs, args[1:]); err != nil {
		return err
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return err
	}
	db, err := openDB(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	a := auth.Account{Email: email, FirstName: first, LastName: last, Role: r}
	if err := db.CreateAccount(ctx, &a, ""); err != nil {
		return err
	}
	if !withKey {
		fmt.Fprintf(stdout, "created user %d (%s, %s)\n", a.ID, a.Email, a.Role)
		return nil
	}
	_, secret, err := db.CreateAPIKey(ctx, a.ID, "created by tocsin user create")
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "created user %d (%s, %s); the API key follows on stdout and is not shown again\n", a.ID, a.Email, a.Role)
	fmt.Fprintln(stdout, secret)
	return nil
}
