// Package queue is the agent's durable buffer: an SQLite file holding what the agent accepted
// and has not delivered yet, and the loop that delivers it. A push returns nil only once the
// item is committed to disk; an item leaves the file only when it has been delivered, or
// dropped for a reason that trying again cannot fix, or after too many attempts.
//
// Items are delivered in FIFO order within their partition (for events, the integration key),
// and partitions do not wait for each other: a partition whose head keeps failing holds back
// only its own followers.
package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
)

// Kinds of items the agent buffers; Run's handlers are keyed by them.
const (
	KindEvent  = "event"  // a client.Event as JSON, partitioned by integration key
	KindPolicy = "policy" // an escalation-policy sync message, all in one partition
)

// Outcome is what became of one delivery attempt.
type Outcome string

const (
	Delivered  Outcome = "delivered"   // the handler took the item; it was deleted
	Retried    Outcome = "retry"       // a retryable failure; the item waits for its next attempt
	Rejected   Outcome = "rejected"    // a permanent failure (400, 404, no handler): dropped
	MaxRetries Outcome = "max_retries" // dropped after Options.MaxRetries failed attempts
)

// ErrClosed is returned by a push after Close.
var ErrClosed = errors.New("queue: closed")

// Options tune a Queue. The zero value is usable: it retries forever.
type Options struct {
	// MaxRetries is the number of failed attempts after which an item is dropped; 0 retries
	// forever. (The command line's --max_retries defaults to 100.)
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait before a failed item is tried again: it starts
	// at MinBackoff and doubles up to MaxBackoff (defaults 1s and 60s).
	MinBackoff, MaxBackoff time.Duration
	// BatchSize is how many items of a partition are read and deleted together (default 50).
	BatchSize int
	// Workers is how many partitions are delivered at the same time (default 8).
	Workers int
	// Grace is how long deliveries in flight may finish after Run's context ends (default 5s).
	Grace time.Duration
	// Now is the clock of item ages and retry times (default time.Now).
	Now func() time.Time
	// Log receives the drops, retries and database failures (default: discarded).
	Log *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 50
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
}

// Item is one buffered item, as a handler sees it.
type Item struct {
	ID       int64
	Kind     string
	Key      string // the partition: an event's integration key, "" for policy messages
	Payload  []byte
	Created  time.Time // when it was pushed
	Attempts int       // failed attempts before this one
}

// Handler delivers one item. nil means delivered; an error for which client.Retryable is true
// means try again later; any other error (or one wrapped by Permanent) drops the item.
type Handler func(ctx context.Context, it Item) error

// Permanent marks err as one that trying again cannot fix, whatever client.Retryable says (a
// payload that does not decode, say).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func retryable(err error) bool {
	var p *permanentError
	if errors.As(err, &p) {
		return false
	}
	return client.Retryable(err)
}

// Tally names a delivery counter: the kind of item and the outcome.
type Tally struct {
	Kind    string
	Outcome Outcome
}

// Stats is the queue's state, for metrics.
type Stats struct {
	Depth      int64            // items waiting
	OldestAge  time.Duration    // how long the oldest waiting item has waited; 0 when empty
	Deliveries map[Tally]uint64 // attempts by kind and outcome since Open
}

// Queue is an open buffer file.
type Queue struct {
	opts   Options
	w      *sql.DB // one connection: the queue's own writes and reads, in the order they come
	r      *sql.DB // read-only, for Stats while a write is in progress
	shared *sql.DB // for other packages' tables in the same file; see DB
	done   *sql.DB // records deliveries (settle), with synchronous(NORMAL)

	deleteItem *sql.Stmt // on done: deletes one delivered item

	pushes     chan *pushReq
	mu         sync.RWMutex // guards closed, and sends on pushes against close(pushes)
	closed     bool
	writerDone chan struct{}

	wake    chan struct{} // a push or a finished batch: Run looks again
	running atomic.Bool
	depth   atomic.Int64

	tallyMu sync.Mutex
	tally   map[Tally]uint64
}

const schema = `
CREATE TABLE IF NOT EXISTS queue_items (
	id         INTEGER PRIMARY KEY, -- FIFO order: a new row's id is above every row's left
	kind       TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	payload    BLOB    NOT NULL,
	created_at INTEGER NOT NULL     -- Unix milliseconds
);
CREATE INDEX IF NOT EXISTS queue_items_partition ON queue_items (kind, key, id);
-- One row per partition with items; the retry state of the partition's head.
CREATE TABLE IF NOT EXISTS queue_partitions (
	kind       TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,  -- failed attempts of the head
	next_at    INTEGER NOT NULL DEFAULT 0,  -- Unix milliseconds before which the head waits
	last_error TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (kind, key)
) WITHOUT ROWID;
`

// Open opens (creating it if needed, readable by its owner only) the buffer file at path.
func Open(ctx context.Context, path string, o Options) (*Queue, error) {
	if path == "" {
		return nil, errors.New("queue: the buffer file path is empty")
	}
	o.setDefaults()
	// The file holds integration keys: create it private before SQLite creates it 0644.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("queue: create %s: %w", path, err)
	}
	// busy_timeout first, so the other pragmas wait for a lock instead of failing.
	// synchronous(FULL): an acknowledged item survives a power cut, not only a crash.
	file := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	base := file + "&_pragma=synchronous(FULL)"
	q := &Queue{opts: o, pushes: make(chan *pushReq, 1024), writerDone: make(chan struct{}),
		wake: make(chan struct{}, 1), tally: map[Tally]uint64{}}
	var err error
	if q.w, err = openPool(ctx, base+"&_txlock=immediate", 1); err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	if q.r, err = openPool(ctx, base+"&_pragma=query_only(1)", 2); err != nil {
		q.w.Close()
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	if q.shared, err = openPool(ctx, base+"&_txlock=immediate", 4); err != nil {
		q.w.Close()
		q.r.Close()
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	// synchronous(NORMAL) for recording deliveries, one at a time: a commit survives the
	// agent's crash at no fsync's cost; a power cut may undo the last few, which are then
	// sent again, as at-least-once allows. In WAL the next FULL commit syncs them too.
	if q.done, err = openPool(ctx, file+"&_pragma=synchronous(NORMAL)&_txlock=immediate", 1); err != nil {
		q.closeDBs()
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	var n int64
	if _, err = q.w.ExecContext(ctx, schema); err == nil {
		err = q.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM queue_items`).Scan(&n)
	}
	if err == nil {
		q.deleteItem, err = q.done.PrepareContext(ctx, `DELETE FROM queue_items WHERE id = ?`)
	}
	if err != nil {
		q.closeDBs()
		return nil, fmt.Errorf("queue: prepare %s: %w", path, err)
	}
	q.depth.Store(n)
	go q.writer()
	return q, nil
}

func openPool(ctx context.Context, dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// DB is a connection pool on the buffer file for other packages' own tables (the stream rules
// keep their state there). Its transactions take the write lock when they begin, and wait up
// to 10 s for it. The tables named queue_* belong to the queue.
func (q *Queue) DB() *sql.DB { return q.shared }

// Close stops taking pushes, waits for those in progress to commit, and closes the file.
// Call it after Run has returned.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.pushes)
	q.mu.Unlock()
	<-q.writerDone
	return q.closeDBs()
}

func (q *Queue) closeDBs() error {
	errs := []error{q.w.Close(), q.r.Close(), q.shared.Close()}
	if q.done != nil {
		errs = append(errs, q.done.Close())
	}
	return errors.Join(errs...)
}

// Append buffers entries, in order: an event behind the earlier events of its integration
// key, a policy message behind the earlier ones. The caller validates events; one the server
// refuses is dropped at delivery. nil means every entry is committed to disk. The entries of
// one Append are committed together, in one transaction, so an error means none of them is
// stored and sending them all again keeps their order. (When ctx ends first, the commit may
// still happen: then all of them are stored, or none.) Appends that arrive together share a
// commit.
func (q *Queue) Append(ctx context.Context, entries ...consumer.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	now := q.opts.Now().UnixMilli()
	r := &pushReq{rows: make([]row, len(entries)), done: make(chan error, 1)}
	for i, e := range entries {
		w := row{created: now}
		switch {
		case e.Event != nil:
			b, err := json.Marshal(e.Event)
			if err != nil {
				return fmt.Errorf("queue: encode event: %w", err)
			}
			w.kind, w.key, w.payload = KindEvent, e.Event.IntegrationKey, b
		case e.Policy != nil:
			w.kind, w.payload = KindPolicy, e.Policy
		default:
			return errors.New("queue: an entry with neither an event nor a policy message")
		}
		r.rows[i] = w
	}
	return q.push(ctx, r)
}

// push hands r to the writer and waits for its commit.
func (q *Queue) push(ctx context.Context, r *pushReq) error {
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return ErrClosed
	}
	select {
	case q.pushes <- r:
	case <-ctx.Done():
		q.mu.RUnlock()
		return ctx.Err()
	}
	q.mu.RUnlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pushReq is one Append: its rows are committed in one transaction, never split.
type pushReq struct {
	rows []row
	done chan error
}

type row struct {
	kind, key string
	payload   []byte
	created   int64
}

// maxPushBatch bounds the rows of the Appends gathered into one transaction; a single Append
// with more rows is committed alone, whole.
const maxPushBatch = 256

// writer commits pushes, grouping those that wait into one transaction: one disk sync for
// many items when they arrive together.
func (q *Queue) writer() {
	defer close(q.writerDone)
	var next *pushReq // taken from the channel but left for the next transaction
	for {
		req := next
		next = nil
		if req == nil {
			var ok bool
			if req, ok = <-q.pushes; !ok {
				return
			}
		}
		batch, rows := []*pushReq{req}, len(req.rows)
	collect:
		for rows < maxPushBatch {
			select {
			case r, ok := <-q.pushes:
				if !ok {
					break collect
				}
				if rows+len(r.rows) > maxPushBatch {
					next = r
					break collect
				}
				batch, rows = append(batch, r), rows+len(r.rows)
			default:
				break collect
			}
		}
		err := q.insert(batch)
		if err == nil {
			q.depth.Add(int64(rows))
			q.signal()
		} else {
			q.opts.Log.Error("queue: could not store pushed items", "items", rows, "err", err)
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (q *Queue) insert(batch []*pushReq) error {
	// Not the pushers' contexts: one leaving must not roll back the others' items.
	ctx := context.Background()
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue: begin: %w", err)
	}
	defer tx.Rollback()
	item, err := tx.PrepareContext(ctx, `INSERT INTO queue_items (kind, key, payload, created_at) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("queue: insert: %w", err)
	}
	defer item.Close()
	part, err := tx.PrepareContext(ctx, `INSERT INTO queue_partitions (kind, key) VALUES (?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("queue: insert: %w", err)
	}
	defer part.Close()
	for _, r := range batch {
		for _, w := range r.rows {
			if _, err := item.ExecContext(ctx, w.kind, w.key, w.payload, w.created); err != nil {
				return fmt.Errorf("queue: insert: %w", err)
			}
			if _, err := part.ExecContext(ctx, w.kind, w.key); err != nil {
				return fmt.Errorf("queue: insert: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue: commit: %w", err)
	}
	return nil
}

// signal wakes Run without blocking.
func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Stats reads the queue's depth, the age of its oldest item and its delivery counters.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	s := Stats{Depth: q.depth.Load(), Deliveries: map[Tally]uint64{}}
	q.tallyMu.Lock()
	for k, v := range q.tally {
		s.Deliveries[k] = v
	}
	q.tallyMu.Unlock()
	var created int64
	// The lowest id was pushed first.
	err := q.r.QueryRowContext(ctx, `SELECT created_at FROM queue_items ORDER BY id LIMIT 1`).Scan(&created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return s, fmt.Errorf("queue: oldest item: %w", err)
	default:
		s.OldestAge = max(0, q.opts.Now().Sub(time.UnixMilli(created)))
	}
	return s, nil
}

func (q *Queue) count(kind string, o Outcome) {
	q.tallyMu.Lock()
	q.tally[Tally{kind, o}]++
	q.tallyMu.Unlock()
}
