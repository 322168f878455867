package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	loadtest "github.com/tocsinhq/tocsin/internal/bench"
	"github.com/tocsinhq/tocsin/internal/store"
)

const benchUsage = `usage:
  tocsin bench ingest [--connections N] [--duration D] [--db postgres://…] [--dedup] [--rules] [--cpuprofile FILE]
  tocsin bench page [--rate 200] [--duration 20s] [--db postgres://…] [--cpuprofile FILE]
  tocsin bench timers [--alerts 20000] [--connections 32] [--open-over D] [--db postgres://…] [--cpuprofile FILE]`

// bench runs a benchmark against tocsin started in-process; see internal/bench.
func bench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(benchUsage)
	}
	switch args[0] {
	case "ingest":
		return benchIngest(args[1:], stdout, stderr)
	case "page":
		return benchPage(args[1:], stdout, stderr)
	case "timers":
		return benchTimers(args[1:], stdout, stderr)
	}
	return errors.New(benchUsage)
}

func benchIngest(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench ingest", stderr)
	o := loadtest.IngestOptions{Warmup: time.Second, Progress: stderr}
	fs.IntVar(&o.Connections, "connections", 64, "concurrent connections, one request in flight on each")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long each target is measured, after a 1s warm-up")
	fs.BoolVar(&o.Dedup, "dedup", false, "also measure events that all share a few alert keys (added to open alerts)")
	fs.BoolVar(&o.Rules, "rules", false, "also measure a source with an event filter and summary and alert key templates")
	common := benchFlags(fs, &o.PostgresURL)
	if err := common.parse(args); err != nil {
		return err
	}
	defer common.close()
	o.CPUProfile, o.Log = common.profile, newLogger("error", stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return loadtest.Ingest(ctx, o, stdout)
}

func benchPage(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench page", stderr)
	o := loadtest.PageOptions{Progress: stderr}
	fs.Float64Var(&o.Rate, "rate", 200, "events per second, sent on schedule whatever the answers take")
	fs.DurationVar(&o.Duration, "duration", 20*time.Second, "how long events are sent")
	common := benchFlags(fs, &o.PostgresURL)
	if err := common.parse(args); err != nil {
		return err
	}
	defer common.close()
	o.CPUProfile, o.Log = common.profile, newLogger("error", stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	_, err := loadtest.Page(ctx, o, stdout)
	return err
}

func benchTimers(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench timers", stderr)
	o := loadtest.TimerOptions{Progress: stderr}
	fs.IntVar(&o.Alerts, "alerts", 20000, "alerts to open; each escalates to level 2 one minute after it first pages")
	fs.IntVar(&o.Connections, "connections", 32, "concurrent connections opening the alerts")
	fs.DurationVar(&o.OpenOver, "open-over", 0, "spread the events opening the alerts evenly over this long (default: as fast as they are taken)")
	common := benchFlags(fs, &o.PostgresURL)
	if err := common.parse(args); err != nil {
		return err
	}
	defer common.close()
	o.CPUProfile, o.Log = common.profile, newLogger("error", stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	_, err := loadtest.Timers(ctx, o, stdout)
	return err
}

// benchCommon are the flags every benchmark takes.
type benchCommon struct {
	fs         *flag.FlagSet
	db         *string
	cpuprofile string
	profile    io.Writer
	file       *os.File
}

// benchFlags adds --db (into db) and --cpuprofile to fs. Plain flag parsing, not
// config.Parse: the TOCSIN_DB of a real server must not turn a benchmark towards that
// server's database.
func benchFlags(fs *flag.FlagSet, db *string) *benchCommon {
	c := &benchCommon{fs: fs, db: db}
	fs.StringVar(db, "db", "", "a postgres:// URL: benchmark PostgreSQL in a schema created and dropped for the run (default: SQLite in a temporary folder)")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the measured run to this file")
	return c
}

// parse parses args and opens the profile's file; close closes it.
func (c *benchCommon) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", c.fs.Args(), benchUsage)
	}
	if *c.db != "" && !store.IsPostgres(*c.db) {
		return errors.New("--db takes a postgres:// URL; without it the benchmark runs on SQLite in a temporary folder")
	}
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		c.file, c.profile = f, f
	}
	return nil
}

func (c *benchCommon) close() {
	if c.file != nil {
		c.file.Close()
	}
}
