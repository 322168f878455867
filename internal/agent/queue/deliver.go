package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/client"
)

// partition is one FIFO line of items and the retry state of its head.
type partition struct {
	kind, key string
	attempts  int
	nextAt    time.Time
}

type partitionID struct{ kind, key string }

// Run delivers the buffered items with handlers (by kind) until ctx ends. Each partition is
// delivered in order, a batch at a time, several partitions at once. A push wakes it; it
// polls nothing. When ctx ends it starts no new item, lets those in flight finish for up to
// Options.Grace, and returns nil; an error means it could not start.
func (q *Queue) Run(ctx context.Context, handlers map[string]Handler) error {
	if !q.running.CompareAndSwap(false, true) {
		return errors.New("queue: Run is already running")
	}
	defer q.running.Store(false)

	// Handlers keep their context for Grace after ctx ends, so a request in flight can
	// finish and its item be deleted rather than sent again after the restart.
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	stopGrace := context.AfterFunc(ctx, func() {
		select {
		case <-time.After(q.opts.Grace):
			cancelHandlers()
		case <-hctx.Done():
		}
	})
	defer stopGrace()

	busy := map[partitionID]bool{}
	done := make(chan partitionID)
	defer func() {
		for len(busy) > 0 {
			delete(busy, <-done)
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// Each pass starts after the partition last given a worker, so that with more partitions
	// ready than workers, those at the end of the list get their turn too.
	var last partitionID

	for ctx.Err() == nil {
		parts, err := q.partitions(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			q.opts.Log.Error("queue: read partitions; trying again in 1s", "err", err)
			parts = nil
			timer.Reset(time.Second)
		}
		now := q.opts.Now()
		var next time.Time
		for _, p := range rotate(parts, last) {
			id := partitionID{p.kind, p.key}
			if busy[id] {
				continue
			}
			if p.nextAt.After(now) {
				if next.IsZero() || p.nextAt.Before(next) {
					next = p.nextAt
				}
				continue
			}
			if len(busy) >= q.opts.Workers {
				continue // a worker finishing wakes the loop
			}
			busy[id], last = true, id
			go func() {
				q.deliver(ctx, hctx, p, handlers[p.kind])
				done <- id
			}()
		}
		if !next.IsZero() {
			timer.Reset(next.Sub(now))
		}
		select {
		case <-ctx.Done():
		case <-q.wake:
		case id := <-done:
			delete(busy, id)
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
	return nil
}

// rotate returns parts (in (kind, key) order) starting with the first partition after last,
// wrapping around.
func rotate(parts []partition, last partitionID) []partition {
	i, _ := slices.BinarySearchFunc(parts, last, func(p partition, id partitionID) int {
		return cmp.Or(strings.Compare(p.kind, id.kind), strings.Compare(p.key, id.key))
	})
	if i < len(parts) && parts[i].kind == last.kind && parts[i].key == last.key {
		i++
	}
	if i == 0 || i >= len(parts) {
		return parts
	}
	return append(parts[i:len(parts):len(parts)], parts[:i]...)
}

func (q *Queue) partitions(ctx context.Context) ([]partition, error) {
	rows, err := q.w.QueryContext(ctx, `SELECT kind, key, attempts, next_at FROM queue_partitions ORDER BY kind, key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []partition
	for rows.Next() {
		var p partition
		var nextAt int64
		if err := rows.Scan(&p.kind, &p.key, &p.attempts, &nextAt); err != nil {
			return nil, err
		}
		p.nextAt = time.UnixMilli(nextAt)
		out = append(out, p)
	}
	return out, rows.Err()
}

// deliver sends the next batch of partition p, in order, until one item must wait. Each item
// delivered or dropped is deleted at once, before the next is sent, so that an agent killed
// mid-batch sends at most that one item again (delivery is at least once); a failure for now
// records the retry state of the new head.
func (q *Queue) deliver(ctx, hctx context.Context, p partition, h Handler) {
	items, err := q.batch(ctx, p)
	if err != nil {
		if ctx.Err() == nil {
			q.opts.Log.Error("queue: read items", "kind", p.kind, "key", client.Redact(p.key), "err", err)
			q.pause(ctx)
		}
		return
	}
	if len(items) == 0 { // none should be: settle forgets it, so that Run does not come back to it
		q.record(ctx, p, 0, 0, time.Time{}, "")
		return
	}
	attempts := p.attempts
	for _, it := range items {
		if ctx.Err() != nil {
			return
		}
		it.Attempts = attempts
		err := q.handle(hctx, h, it)
		if err != nil && hctx.Err() != nil {
			return // cut short by the shutdown: not an attempt
		}
		if err == nil {
			q.count(it.Kind, Delivered)
			q.opts.Log.Debug("queue: delivered", "kind", it.Kind, "key", client.Redact(it.Key), "item", it.ID)
		} else if !retryable(err) {
			q.count(it.Kind, Rejected)
			q.opts.Log.Warn("queue: dropped an item the server refused; it will not be retried",
				"kind", it.Kind, "key", client.Redact(it.Key), "item", it.ID, "attempt", attempts+1, "err", err)
		} else if attempts+1 >= q.opts.MaxRetries && q.opts.MaxRetries > 0 {
			q.count(it.Kind, MaxRetries)
			q.opts.Log.Warn("queue: dropped an item after the maximum number of attempts",
				"kind", it.Kind, "key", client.Redact(it.Key), "item", it.ID, "attempts", attempts+1, "err", err)
		} else {
			attempts++
			wait := q.backoff(attempts, err)
			q.count(it.Kind, Retried)
			q.opts.Log.Warn("queue: delivery failed; will retry", "kind", it.Kind, "key", client.Redact(it.Key),
				"item", it.ID, "attempt", attempts, "retry_in", wait.Round(time.Millisecond), "err", err)
			q.record(ctx, p, 0, attempts, q.opts.Now().Add(wait), err.Error())
			return
		}
		if !q.gone(ctx, p, it, attempts) {
			return
		}
		q.depth.Add(-1)
		attempts = 0
	}
	// The batch is done: forget the partition if it is empty now.
	q.record(ctx, p, 0, 0, time.Time{}, "")
}

// gone deletes a delivered or dropped item. An item that took several attempts also resets
// the retry state of its partition; others are deleted alone, by one statement that costs no
// fsync (see Open), so that recording each delivery at once stays cheap.
func (q *Queue) gone(ctx context.Context, p partition, it Item, attempts int) bool {
	if attempts > 0 {
		return q.record(ctx, p, it.ID, 0, time.Time{}, "")
	}
	return q.retry(ctx, p, func() error {
		_, err := q.deleteItem.ExecContext(context.WithoutCancel(ctx), it.ID)
		return err
	})
}

// record settles what happened to partition p (see settle), trying again until it is written
// or ctx ends, and reports whether it was written.
func (q *Queue) record(ctx context.Context, p partition, gone int64, attempts int, nextAt time.Time, lastErr string) bool {
	return q.retry(ctx, p, func() error { return q.settle(p, gone, attempts, nextAt, lastErr) })
}

// retry runs write, which records deliveries of partition p, until it succeeds or ctx ends,
// and reports whether it succeeded. The deliveries happened: when recording them fails (a full
// disk, say), only the recording is tried again, so that the server does not get the items
// again and again and the retry state is not lost. Should the agent stop first, the next
// start sends them again.
func (q *Queue) retry(ctx context.Context, p partition, write func() error) bool {
	for n := 1; ; n++ {
		err := write()
		if err == nil {
			return true
		}
		wait := client.RetryWait(q.opts.MinBackoff, q.opts.MaxBackoff, n)
		q.opts.Log.Error("queue: could not record deliveries; trying again", "kind", p.kind, "key", client.Redact(p.key),
			"attempt", n, "retry_in", wait.Round(time.Millisecond), "err", err)
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// handle runs h; an item of a kind without handler is dropped.
func (q *Queue) handle(ctx context.Context, h Handler, it Item) error {
	if h == nil {
		q.opts.Log.Error("queue: no handler for this kind of item", "kind", it.Kind)
		return Permanent(fmt.Errorf("no handler for %q items", it.Kind))
	}
	return h(ctx, it)
}

func (q *Queue) batch(ctx context.Context, p partition) ([]Item, error) {
	rows, err := q.w.QueryContext(ctx, `SELECT id, payload, created_at FROM queue_items WHERE kind = ? AND key = ? ORDER BY id LIMIT ?`,
		p.kind, p.key, q.opts.BatchSize)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		it := Item{Kind: p.kind, Key: p.key}
		var created int64
		if err := rows.Scan(&it.ID, &it.Payload, &created); err != nil {
			return nil, err
		}
		it.Created = time.UnixMilli(created)
		out = append(out, it)
	}
	return out, rows.Err()
}

// settle deletes the items of p up to lastGone, records the retry state of its head, and
// forgets p when it is empty. It runs after the handlers, so a new context: the deliveries
// happened and should be recorded even during a shutdown.
func (q *Queue) settle(p partition, lastGone int64, attempts int, nextAt time.Time, lastErr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := q.done.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if lastGone > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM queue_items WHERE kind = ? AND key = ? AND id <= ?`, p.kind, p.key, lastGone); err != nil {
			return err
		}
	}
	var next int64
	if !nextAt.IsZero() {
		// Rounded up: a head stored a fraction of a millisecond early would be retried
		// before the wait (or the server's Retry-After) is over.
		next = (nextAt.UnixNano() + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE queue_partitions SET attempts = ?, next_at = ?, last_error = ? WHERE kind = ? AND key = ?`,
		attempts, next, lastErr, p.kind, p.key); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM queue_partitions WHERE kind = ? AND key = ?
		AND NOT EXISTS (SELECT 1 FROM queue_items WHERE kind = ? AND key = ?)`, p.kind, p.key, p.kind, p.key); err != nil {
		return err
	}
	return tx.Commit()
}

// pause waits a second after a database failure, so a broken file does not spin the loop.
func (q *Queue) pause(ctx context.Context) { sleep(ctx, time.Second) }

// sleep waits d or until ctx ends, and reports whether the wait was whole.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is the wait before attempt+1 (client.RetryWait), or the server's Retry-After when
// that is longer.
func (q *Queue) backoff(attempts int, err error) time.Duration {
	d := client.RetryWait(q.opts.MinBackoff, q.opts.MaxBackoff, attempts)
	var se *client.StatusError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = se.RetryAfter
	}
	return d
}
