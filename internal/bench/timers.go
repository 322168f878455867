package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, to read the due times tocsin wrote

	"github.com/tocsinhq/tocsin/internal/store"
)

// TimerOptions configure Timers.
type TimerOptions struct {
	Alerts      int // alerts opened, as fast as Connections allow
	Connections int // concurrent connections opening them; 0 means 32
	// OpenOver, when more than 0, spreads the events that open the alerts evenly over this
	// long instead of sending them as fast as they are taken. The escalations then fall due
	// over about as long, as far as the engine starts alerts as fast as they open.
	OpenOver time.Duration
	// Wait bounds how long the run waits for all level-2 pages after the first should have
	// gone out. Zero means 10 minutes.
	Wait time.Duration
	// PostgresURL selects PostgreSQL: the run creates a schema there and drops it afterwards.
	// Empty runs on SQLite in a temporary folder.
	PostgresURL string
	CPUProfile  io.Writer    // when set, receives a CPU profile from the first event to the last page
	Progress    io.Writer    // when set, told what is being done
	Log         *slog.Logger // tocsin's logs; nil discards them
}

// TimerTarget is the p99 escalation lateness issue 3 asks for.
const TimerTarget = time.Second

// escalateAfter is level 1's escalationTimeout in the policy Timers uses.
const escalateAfter = time.Minute

// TimerResult is what Timers measured. Times are since the first event was sent.
type TimerResult struct {
	Alerts int
	Opened Result // the events that opened the alerts

	Level1, Level2 Pages
	Level1Done     time.Duration // the last level-1 page
	Level2Done     time.Duration // the last level-2 page
	FirstDue       time.Duration // the first escalation to level 2 fell due
	LastDue        time.Duration // the last one

	// Lateness holds, sorted, how late each escalation fired: the time the engine wrote its
	// outcome (the level-2 page) minus its due time, to the millisecond, from the database.
	Lateness Result
	// Claimed holds, sorted, the time the engine claimed each escalation minus its due time:
	// what tocsin_timer_lateness_seconds observes. A timer is claimed in a batch and run after
	// the ones before it, so this is at most Lateness.
	Claimed Result
	// Delivered holds, sorted, the time from each escalation's due time to its level-2 page
	// arriving at the receiver: lateness, then the outbox and the webhook's round trip.
	Delivered Result

	// Start and Escalate are tocsin_timer_lateness_seconds over the level-1 phase (START
	// timers) and over the level-2 phase (ESCALATE timers). Overlap is true when the phases
	// overlapped in time, so each also holds some of the other's timers.
	Start, Escalate Histogram
	Overlap         bool
}

// Timers measures how late tocsin runs timers under load: o.Alerts alerts are opened as fast
// as the Events API takes them (or spread over o.OpenOver), on a policy that pages a level-1
// user at once and escalates to a level-2 user one minute later. Each escalation falls due a
// minute after the engine started its alert, so the escalations fall due as densely as the
// engine started the alerts, within about a minute of each other. Both users have only a WEBHOOK rule with no delay, to a receiver on
// loopback. It prints the report to out. Every alert must page both levels exactly once.
func Timers(ctx context.Context, o TimerOptions, out io.Writer) (TimerResult, error) {
	if o.Alerts < 1 {
		return TimerResult{}, errors.New("bench: alerts must be 1 or more")
	}
	if o.Connections <= 0 {
		o.Connections = 32
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Minute
	}
	progress := progressTo(o.Progress)
	progress("starting tocsin on a temporary database …")
	t, err := StartTocsin(ctx, o.PostgresURL, o.Log)
	if err != nil {
		return TimerResult{}, err
	}
	defer func() {
		if cerr := t.Close(); cerr != nil {
			fmt.Fprintln(out, "cleanup:", cerr)
		}
	}()
	rc := NewReceiver()
	defer rc.Close()
	base := time.Now() // the receiver's times are since base; the report's since the first event
	l1, l2 := newPages("timer-", o.Alerts, base), newPages("timer-", o.Alerts, base)
	u1, err := t.CreateWebhookUser(ctx, "First", rc, "/level1", l1.Record)
	if err != nil {
		return TimerResult{}, err
	}
	u2, err := t.CreateWebhookUser(ctx, "Second", rc, "/level2", l2.Record)
	if err != nil {
		return TimerResult{}, err
	}
	// Level 2 waits an hour, so no END timer falls due during the run.
	key, err := t.CreatePagingSource(ctx, "bench timers",
		Level{Users: []int64{u1}, Timeout: int(escalateAfter / time.Minute)}, Level{Users: []int64{u2}, Timeout: 60})
	if err != nil {
		return TimerResult{}, err
	}
	before, err := t.Histogram(ctx, "tocsin_timer_lateness_seconds")
	if err != nil {
		return TimerResult{}, err
	}

	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return TimerResult{}, fmt.Errorf("bench: CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res := TimerResult{Alerts: o.Alerts}
	progress("opening %d alerts over %d connections …", o.Alerts, o.Connections)
	start := time.Now()
	shift := start.Sub(base)
	if o.OpenOver > 0 {
		ev := newEvents(t.EventsURL(), key, o.Connections)
		sendPaced(ctx, o.Alerts, float64(o.Alerts)/o.OpenOver.Seconds(), func(i int) { ev.post(ctx, l1.Key(i), nil) })
		ev.client.CloseIdleConnections()
		res.Opened = Result{Accepted: ev.accepted.Load(), Errors: ev.failed.Load(), FirstError: ev.firstError(), Elapsed: time.Since(start)}
	} else {
		client := NewClient(o.Connections)
		res.Opened, err = Run(ctx, client, Load{URL: t.EventsURL(), Body: NewTemplate(key, "timer-", 0), Connections: o.Connections, Events: int64(o.Alerts)})
		client.CloseIdleConnections()
		if err != nil {
			return res, err
		}
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("bench: interrupted: %w", ctx.Err())
	}
	if res.Opened.Accepted != int64(o.Alerts) {
		return res, fmt.Errorf("bench: %d of %d events opened an alert, %d errors; first: %s",
			res.Opened.Accepted, o.Alerts, res.Opened.Errors, res.Opened.FirstError)
	}
	progress("opened %d alerts in %s; waiting for the level-1 pages …", o.Alerts, res.Opened.Elapsed.Round(time.Millisecond))
	if !waitPages(ctx, progress, "level 1", l1, o.Alerts, time.Now().Add(o.Wait)) {
		return res, errors.Join(ctx.Err(), fmt.Errorf("bench: %d of %d alerts paged level 1 after %s", l1.got.Load(), o.Alerts, o.Wait))
	}
	res.Level1Done = maxAt(l1) - shift
	mid, err := t.Histogram(ctx, "tocsin_timer_lateness_seconds")
	if err != nil {
		return res, err
	}
	// An escalation falls due a minute after its START timer ran, which is after the first
	// event: before that, every timer that ran was a START timer.
	res.Overlap = time.Since(start) >= escalateAfter || l2.got.Load() > 0
	progress("level 1 paged in %s; waiting for the escalations, due a minute after …", res.Level1Done.Round(time.Millisecond))
	if !waitPages(ctx, progress, "level 2", l2, o.Alerts, start.Add(escalateAfter+o.Wait)) {
		return res, errors.Join(ctx.Err(), fmt.Errorf("bench: %d of %d alerts paged level 2 after %s", l2.got.Load(), o.Alerts, escalateAfter+o.Wait))
	}
	res.Level2Done = maxAt(l2) - shift
	pprof.StopCPUProfile()
	end, err := t.Histogram(ctx, "tocsin_timer_lateness_seconds")
	if err != nil {
		return res, err
	}
	res.Start, res.Escalate = mid.Sub(before), end.Sub(mid)
	res.Level1, res.Level2 = l1.Counts(rc), l2.Counts(rc)

	due, err := t.escalationDueTimes(ctx)
	if err != nil {
		return res, err
	}
	if len(due) != o.Alerts {
		return res, fmt.Errorf("bench: %d of %d alerts have both a level-1 and a level-2 page in the database", len(due), o.Alerts)
	}
	res.FirstDue, res.LastDue = time.Duration(1<<62), time.Duration(-1<<62)
	for _, d := range due {
		i, err := strconv.Atoi(strings.TrimPrefix(d.key, "timer-"))
		if err != nil || i < 0 || i >= o.Alerts {
			return res, fmt.Errorf("bench: an alert of the run has key %q", d.key)
		}
		dueAt := d.level1.Add(escalateAfter).Sub(start)
		res.FirstDue, res.LastDue = min(res.FirstDue, dueAt), max(res.LastDue, dueAt)
		res.Lateness.Latencies = append(res.Lateness.Latencies, d.written.Sub(d.level1)-escalateAfter)
		res.Claimed.Latencies = append(res.Claimed.Latencies, d.level2.Sub(d.level1)-escalateAfter)
		res.Delivered.Latencies = append(res.Delivered.Latencies, l2.At(i)-shift-dueAt)
	}
	for _, r := range []*Result{&res.Lateness, &res.Claimed, &res.Delivered} {
		slices.Sort(r.Latencies)
		r.Accepted = int64(len(r.Latencies))
	}
	timerReport(out, o, t, res)
	return res, res.check()
}

func (r TimerResult) check() error {
	var errs []error
	for _, l := range []struct {
		name  string
		pages Pages
	}{{"level 1", r.Level1}, {"level 2", r.Level2}} {
		if err := l.pages.check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
		}
	}
	return errors.Join(errs...)
}

// waitPages waits for want pages at p, telling progress how many came every 10 seconds.
func waitPages(ctx context.Context, progress func(string, ...any), what string, p *pages, want int, deadline time.Time) bool {
	for {
		until := time.Now().Add(10 * time.Second)
		if deadline.Before(until) {
			until = deadline
		}
		if p.Wait(ctx, want, until) {
			return true
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return false
		}
		progress("  %s: %d of %d paged", what, p.got.Load(), want)
	}
}

// maxAt returns the last first page of p's keys.
func maxAt(p *pages) time.Duration {
	var last time.Duration
	for i := range p.first {
		last = max(last, p.At(i))
	}
	return last
}

// escalationDue is when the engine claimed an alert's START timer (level1) and its escalation
// to level 2 (level2), and when it wrote the escalation's outcome (written).
type escalationDue struct {
	key                     string
	level1, level2, written time.Time
}

// escalationDueTimes reads, for each alert of the run, the due times of its level-1 and
// level-2 pages and when the level-2 page was written. With no delay in the rules, a page's
// due time is the moment the engine claimed the timer that scheduled it, and the escalation
// was due escalateAfter after the START timer was claimed: so level2 − level1 − escalateAfter
// is what tocsin_timer_lateness_seconds observed for the escalation, for each alert rather
// than in buckets, and written − level1 − escalateAfter is how late it took effect.
func (t *Tocsin) escalationDueTimes(ctx context.Context) ([]escalationDue, error) {
	db, err := t.openDB()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT a.alert_key, n1.due_at, n2.due_at, n2.created_at FROM alerts a
		JOIN notifications n1 ON n1.alert_id = a.id AND n1.purpose = 'ALERT' AND n1.level = 0
		JOIN notifications n2 ON n2.alert_id = a.id AND n2.purpose = 'ALERT' AND n2.level = 1
		WHERE a.alert_key LIKE 'timer-%'`)
	if err != nil {
		return nil, fmt.Errorf("bench: read the due times: %w", err)
	}
	defer rows.Close()
	var out []escalationDue
	for rows.Next() {
		var d escalationDue
		var l1, l2, w int64
		if err := rows.Scan(&d.key, &l1, &l2, &w); err != nil {
			return nil, fmt.Errorf("bench: read the due times: %w", err)
		}
		d.level1, d.level2, d.written = time.UnixMilli(l1), time.UnixMilli(l2), time.UnixMilli(w)
		out = append(out, d)
	}
	return out, rows.Err()
}

func timerReport(out io.Writer, o TimerOptions, t *Tocsin, r TimerResult) {
	s := func(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
	fmt.Fprintf(out, "tocsin bench timers: %d alerts on a two-level policy (level 1, then level 2 after %s); WEBHOOK pages with no delay to a receiver on 127.0.0.1\n",
		r.Alerts, escalateAfter)
	fmt.Fprintf(out, "database: %s (%s, temporary)   GOMAXPROCS: %d   CPUs: %d   (times below are since the first event)\n",
		t.Dialect(), t.DB, runtime.GOMAXPROCS(0), runtime.NumCPU())
	how := "as fast as they were taken"
	if o.OpenOver > 0 {
		how = fmt.Sprintf("spread evenly over %s", o.OpenOver)
	}
	fmt.Fprintf(out, "opened:  %d alerts in %s (%.0f events/s over %d connections, %s)\n",
		r.Opened.Accepted, r.Opened.Elapsed.Round(time.Millisecond), r.Opened.Rate(), o.Connections, how)
	fmt.Fprintf(out, "level 1: %d pages, the last at %s; START timers claimed late by p50 %s, p99 %s (tocsin_timer_lateness_seconds, %.0f timers)\n",
		r.Level1.Received, s(r.Level1Done), r.Start.QuantileText(0.5), r.Start.QuantileText(0.99), r.Start.Count)
	fmt.Fprintf(out, "escalations to level 2: %d, due from %s to %s (spread over %s)\n",
		r.Lateness.Accepted, s(r.FirstDue), s(r.LastDue), s(r.LastDue-r.FirstDue))
	l, c := r.Lateness, r.Claimed
	fmt.Fprintf(out, "escalation lateness (written − due):  p50 %s   p90 %s   p99 %s   max %s\n",
		latency(l.Percentile(50)), latency(l.Percentile(90)), latency(l.Percentile(99)), latency(l.Percentile(100)))
	fmt.Fprintf(out, "escalation lateness (claimed − due):  p50 %s   p90 %s   p99 %s   max %s\n",
		latency(c.Percentile(50)), latency(c.Percentile(90)), latency(c.Percentile(99)), latency(c.Percentile(100)))
	note := ""
	if r.Overlap {
		note = "; the phases overlapped, so both hold START and ESCALATE timers"
	}
	fmt.Fprintf(out, "tocsin_timer_lateness_seconds over the level-2 phase (claimed − due, from its buckets): %.0f timers, p50 %s, p99 %s, mean %s%s\n",
		r.Escalate.Count, r.Escalate.QuantileText(0.5), r.Escalate.QuantileText(0.99), seconds(r.Escalate.Mean()), note)
	d := r.Delivered
	fmt.Fprintf(out, "level 2: %d pages; due → received p50 %s   p99 %s   max %s; the last at %s, %s after the last due time\n",
		r.Level2.Received, latency(d.Percentile(50)), latency(d.Percentile(99)), latency(d.Percentile(100)),
		s(r.Level2Done), s(r.Level2Done-r.LastDue))
	fmt.Fprintf(out, "pages:   level 1: %s\n         level 2: %s\n", r.Level1, r.Level2)
	fmt.Fprintln(out, verdict(l.Accepted > 0 && l.Percentile(99) < TimerTarget,
		fmt.Sprintf("escalation lateness (written − due) p99 %s, target under %s", latency(l.Percentile(99)), latency(TimerTarget))))
}

// openDB opens tocsin's database to read what it wrote, as no API shows it.
func (t *Tocsin) openDB() (*sql.DB, error) {
	driver, dsn := "pgx", t.dsn
	if !store.IsPostgres(t.dsn) {
		driver = "sqlite"
		dsn = "file:" + (&url.URL{Path: t.dsn}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=query_only(1)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("bench: open the database: %w", err)
	}
	return db, nil
}

// Unpaged counts the alerts the engine has not started on yet: their START timer is still
// waiting. After a burst of events it is the engine's backlog.
func (t *Tocsin) Unpaged(ctx context.Context) (int, error) {
	db, err := t.openDB()
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM timers WHERE kind = 'START'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("bench: count waiting timers: %w", err)
	}
	return n, nil
}
