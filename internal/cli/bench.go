package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	loadtest "github.com/tocsinhq/tocsin/internal/bench"
	"github.com/tocsinhq/tocsin/internal/store"
)

const benchUsage = `usage: tocsin bench ingest [--connections N] [--duration D] [--db postgres://…] [--dedup] [--cpuprofile FILE]`

// bench runs the load generator; see internal/bench.
func bench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "ingest" {
		return errors.New(benchUsage)
	}
	fs := newFlagSet("bench ingest", stderr)
	o := loadtest.IngestOptions{Warmup: time.Second, Progress: stderr}
	var cpuprofile string
	fs.IntVar(&o.Connections, "connections", 64, "concurrent connections, one request in flight on each")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long each target is measured, after a 1s warm-up")
	fs.StringVar(&o.PostgresURL, "db", "", "a postgres:// URL: benchmark PostgreSQL in a schema created and dropped for the run (default: SQLite in a temporary folder)")
	fs.BoolVar(&o.Dedup, "dedup", false, "also measure events that all share a few alert keys (added to open alerts)")
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the measured tocsin run to this file")
	// Plain flag parsing, not config.Parse: the TOCSIN_DB of a real server must not turn
	// the benchmark towards that server's database.
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), benchUsage)
	}
	if o.PostgresURL != "" && !store.IsPostgres(o.PostgresURL) {
		return errors.New("--db takes a postgres:// URL; without it the benchmark runs on SQLite in a temporary folder")
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		o.CPUProfile = f
	}
	o.Log = newLogger("error", stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return loadtest.Ingest(ctx, o, stdout)
}
