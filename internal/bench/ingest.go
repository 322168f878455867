package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/pprof"
	"text/tabwriter"
	"time"

	"github.com/tocsinhq/tocsin/internal/store"
)

// IngestOptions configure Ingest.
type IngestOptions struct {
	Connections int
	Duration    time.Duration // measured per target, after Warmup
	Warmup      time.Duration
	// PostgresURL selects PostgreSQL: the run creates a schema there and drops it afterwards.
	// Empty runs on SQLite in a temporary folder.
	PostgresURL string
	Dedup       bool         // also measure events that all go to a few open alerts
	Rules       bool         // also measure a source with a template and a condition (RuledSource)
	CPUProfile  io.Writer    // when set, receives a CPU profile of the measured tocsin run
	Progress    io.Writer    // when set, told what is being measured
	Log         *slog.Logger // tocsin's logs; nil discards them
}

// DedupKeys is how many alert keys the dedup scenario's events share.
const DedupKeys = 8

// row is one line of the report.
type row struct {
	target string
	res    Result
}

// Ingest measures the bare handler, then tocsin with a distinct alert key per event (and,
// with Dedup, with DedupKeys keys), prints the report to out, and checks that tocsin holds
// an alert for every event it accepted.
func Ingest(ctx context.Context, o IngestOptions, out io.Writer) error {
	if o.Connections < 1 || o.Duration <= 0 || o.Warmup < 0 {
		return errors.New("bench: connections and duration must be more than 0, and the warm-up 0 or more")
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	client := NewClient(o.Connections)
	defer client.CloseIdleConnections()
	var rows []row

	bare, err := StartBare()
	if err != nil {
		return err
	}
	progress("measuring bare net/http for %s …", o.Duration)
	res, _, err := measure(ctx, client, bare.URL, NewTemplate("bare", "bare-", 0), o, nil)
	if cerr := bare.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	rows = append(rows, row{"bare net/http", res})

	progress("starting tocsin on a temporary database …")
	t, err := StartTocsin(ctx, o.PostgresURL, o.Log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := t.Close(); cerr != nil {
			fmt.Fprintln(out, "cleanup:", cerr)
		}
	}()
	progress("measuring tocsin for %s …", o.Duration)
	res, accepted, err := measure(ctx, client, t.EventsURL(), NewTemplate(t.IntegrationKey, "bench-", 0), o, o.CPUProfile)
	if err != nil {
		return err
	}
	rows = append(rows, row{"tocsin", res})
	unpaged, err := t.Unpaged(ctx)
	if err != nil {
		return err
	}
	alerts, err := t.CountAlerts(ctx)
	if err != nil {
		return err
	}
	var failed []error
	checks := []string{fmt.Sprintf("verified: %d alerts for %d accepted events", alerts, accepted),
		fmt.Sprintf("engine: when the run ended, %d of those alerts (%.1f%%) were still waiting to be paged", unpaged, 100*float64(unpaged)/float64(max(alerts, 1)))}
	if alerts != int(accepted) {
		failed = append(failed, fmt.Errorf("bench: tocsin holds %d alerts but accepted %d events with distinct keys", alerts, accepted))
		checks = nil
	}

	if o.Dedup {
		progress("measuring tocsin dedup for %s …", o.Duration)
		res, accepted, err := measure(ctx, client, t.EventsURL(), NewTemplate(t.IntegrationKey, "dedup-", DedupKeys), o, nil)
		if err != nil {
			return err
		}
		rows = append(rows, row{"tocsin dedup", res})
		after, err := t.CountAlerts(ctx)
		if err != nil {
			return err
		}
		if opened := after - alerts; accepted >= DedupKeys && opened == DedupKeys {
			checks = append(checks, fmt.Sprintf("verified: dedup added %d accepted events to %d alerts", accepted, opened))
		} else {
			failed = append(failed, fmt.Errorf("bench: %d dedup events on %d alert keys opened %d alerts", accepted, DedupKeys, opened))
		}
	}

	if o.Rules {
		progress("measuring tocsin with alert source rules for %s …", o.Duration)
		id, key, err := t.CreateSource(ctx, RuledSource)
		if err != nil {
			return err
		}
		res, accepted, err := measure(ctx, client, t.EventsURL(), NewTemplate(key, "rules-", 0), o, nil)
		if err != nil {
			return err
		}
		rows = append(rows, row{"tocsin + rules", res})
		n, err := t.CountSourceAlerts(ctx, id)
		if err != nil {
			return err
		}
		if n == int(accepted) {
			checks = append(checks, fmt.Sprintf("verified: %d alerts for %d accepted events through the rules; rules vs plain: %.3f",
				n, accepted, res.Rate()/rows[1].res.Rate()))
		} else {
			failed = append(failed, fmt.Errorf("bench: the source with rules holds %d alerts but accepted %d events", n, accepted))
		}
	}

	report(out, o, t.Dialect(), t.DB, rows)
	for _, c := range checks {
		fmt.Fprintln(out, c)
	}
	return errors.Join(failed...)
}

// measure warms a target up, then measures it. It returns the measured run and the events
// accepted in both, which is what the target must hold afterwards.
func measure(ctx context.Context, client *http.Client, url string, tmpl *Template, o IngestOptions, profile io.Writer) (Result, int64, error) {
	l := Load{URL: url, Body: tmpl, Connections: o.Connections, Duration: o.Warmup}
	var warm Result
	if o.Warmup > 0 {
		var err error
		if warm, err = Run(ctx, client, l); err != nil {
			return Result{}, 0, err
		}
		if ctx.Err() != nil {
			return Result{}, 0, fmt.Errorf("bench: interrupted: %w", ctx.Err())
		}
	}
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return Result{}, 0, fmt.Errorf("bench: CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	l.Duration = o.Duration
	res, err := Run(ctx, client, l)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("bench: interrupted: %w", ctx.Err())
	}
	return res, warm.Accepted + res.Accepted, err
}

// report prints the table and what it was measured on.
func report(out io.Writer, o IngestOptions, dialect store.Dialect, db string, rows []row) {
	fmt.Fprintf(out, "tocsin bench ingest: %d connections, %s per target after a %s warm-up\n", o.Connections, o.Duration, o.Warmup)
	fmt.Fprintf(out, "database: %s (%s, temporary)   GOMAXPROCS: %d   CPUs: %d\n", dialect, db, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintln(out, "rate limit per integration key: off (event rate 0, unlimited), so it is not what is measured")
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "target\tevents/s\tp50\tp99\terrors\tevents/s vs bare")
	base := rows[0].res.Rate()
	for _, r := range rows {
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.3f", r.res.Rate()/base)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%s\n", r.target, r.res.Rate(),
			latency(r.res.Percentile(50)), latency(r.res.Percentile(99)), r.res.Errors, ratio)
	}
	tw.Flush()
	fmt.Fprintln(out)
	for _, r := range rows {
		if r.res.FirstError != "" {
			fmt.Fprintf(out, "first error (%s): %s\n", r.target, r.res.FirstError)
		}
	}
}

// latency formats d in milliseconds with three significant digits or so.
func latency(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.2fms", ms)
}

// RuledSource is the rules of the source bench ingest --rules measures: an event filter every
// bench event passes and templates for the summary and the alert key.
var RuledSource = map[string]any{
	"eventFilter":      "event.eventType == 'ALERT' and event.summary contains 'bench' and not (event.alertKey starts_with 'skip')",
	"summaryTemplate":  map[string]any{"textTemplate": "{{ summary.upperCase() }} ({{ alertKey }})"},
	"alertKeyTemplate": map[string]any{"textTemplate": "r-{{ alertKey }}"},
}
