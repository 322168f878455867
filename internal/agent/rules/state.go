package rules

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
)

// schema is the rules' table in the agent's SQLite file: one row per rule and dedup key
// (composites: per key they join their rules on). Times are Unix milliseconds, 0 for none.
// The table holds at most the sum of the rules' max_keys rows.
const schema = `CREATE TABLE IF NOT EXISTS agent_rule_state (
	rule            TEXT    NOT NULL,
	state_key       TEXT    NOT NULL,
	fingerprint     TEXT    NOT NULL,
	alert_key       TEXT    NOT NULL,
	integration_key TEXT    NOT NULL,
	firing          INTEGER NOT NULL,
	fired_at        INTEGER NOT NULL,
	suppress_until  INTEGER NOT NULL,
	pending         TEXT    NOT NULL, -- the event decided and not yet known to be in the buffer, as JSON; '' for none
	since           INTEGER NOT NULL,
	last_seen       INTEGER NOT NULL,
	value           REAL,
	buckets         TEXT    NOT NULL,
	device          TEXT    NOT NULL,
	topic           TEXT    NOT NULL,
	msg_key         TEXT    NOT NULL,
	source          TEXT    NOT NULL,
	payload         BLOB,
	PRIMARY KEY (rule, state_key)
)`

const upsertState = `INSERT INTO agent_rule_state (rule, state_key, fingerprint, alert_key, integration_key, firing,
	fired_at, suppress_until, pending, since, last_seen, value, buckets, device, topic, msg_key, source, payload)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (rule, state_key) DO UPDATE SET fingerprint = excluded.fingerprint, alert_key = excluded.alert_key,
	integration_key = excluded.integration_key, firing = excluded.firing, fired_at = excluded.fired_at,
	suppress_until = excluded.suppress_until, pending = excluded.pending, since = excluded.since,
	last_seen = excluded.last_seen, value = excluded.value, buckets = excluded.buckets, device = excluded.device,
	topic = excluded.topic, msg_key = excluded.msg_key, source = excluded.source, payload = excluded.payload`

const deleteState = `DELETE FROM agent_rule_state WHERE rule = ? AND state_key = ?`

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// write saves one key's state, or deletes it when st is nil.
func write(ctx context.Context, db execer, rs *ruleState, key string, st *state) error {
	if st == nil {
		_, err := db.ExecContext(ctx, deleteState, rs.r.name, key)
		return err
	}
	pending := ""
	if st.pending != nil {
		b, err := json.Marshal(st.pending)
		if err != nil {
			return err
		}
		pending = string(b)
	}
	buckets := ""
	if len(st.buckets) > 0 {
		b, _ := json.Marshal(st.buckets)
		buckets = string(b)
	}
	var value sql.NullFloat64
	if st.hasValue {
		value = sql.NullFloat64{Float64: st.value, Valid: true}
	}
	_, err := db.ExecContext(ctx, upsertState, rs.r.name, key, rs.r.fingerprint, st.alertKey, st.integrationKey, st.firing,
		millis(st.firedAt), millis(st.suppressUntil), pending, millis(st.since), millis(st.lastSeen), value, buckets,
		st.device, st.topic, st.msgKey, st.source, st.payload)
	return err
}

// save writes one key's state at once: the transitions' saves, which must be on disk before
// (and after) their event is pushed.
func (e *Engine) save(ctx context.Context, rs *ruleState, key string, st *state) error {
	if err := write(ctx, e.db, rs, key, st); err != nil {
		return fmt.Errorf("rules: save %s %q: %w", rs.r.name, key, err)
	}
	delete(e.dirty, stateRef{rs, key})
	return nil
}

// flush writes the state messages and ticks changed, in one transaction.
func (e *Engine) flush(ctx context.Context) error {
	if len(e.dirty) == 0 {
		return nil
	}
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rules: save state: %w", err)
	}
	defer tx.Rollback()
	for ref := range e.dirty {
		if err := write(ctx, tx, ref.rs, ref.key, ref.rs.keys[ref.key]); err != nil {
			return fmt.Errorf("rules: save %s %q: %w", ref.rs.r.name, ref.key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rules: save state: %w", err)
	}
	clear(e.dirty)
	return nil
}

// load reads the saved state. Rows of rules the set no longer has, or whose fingerprint
// changed, are retired: their firing keys are resolved, then the rows deleted.
func (e *Engine) load(ctx context.Context, start time.Time) error {
	byName := map[string]*ruleState{}
	for _, rs := range e.byRule {
		byName[rs.r.name] = rs
	}
	rows, err := e.db.QueryContext(ctx, `SELECT rule, state_key, fingerprint, alert_key, integration_key, firing, fired_at,
		suppress_until, pending, since, last_seen, value, buckets, device, topic, msg_key, source, payload FROM agent_rule_state`)
	if err != nil {
		return fmt.Errorf("rules: read state: %w", err)
	}
	defer rows.Close()
	type retired struct{ rule, key, alertKey, integrationKey string }
	var retire []retired
	for rows.Next() {
		var (
			name, key, fp, pending, buckets         string
			firing                                  bool
			firedAt, suppressUntil, since, lastSeen int64
			value                                   sql.NullFloat64
			st                                      = &state{}
		)
		if err := rows.Scan(&name, &key, &fp, &st.alertKey, &st.integrationKey, &firing, &firedAt, &suppressUntil, &pending,
			&since, &lastSeen, &value, &buckets, &st.device, &st.topic, &st.msgKey, &st.source, &st.payload); err != nil {
			return fmt.Errorf("rules: read state: %w", err)
		}
		rs := byName[name]
		if rs == nil || rs.r.fingerprint != fp {
			// A pending event may be an ALERT that reached the buffer: resolve it too.
			if st.integrationKey != "" && st.alertKey != "" && (firing || pending != "") {
				retire = append(retire, retired{name, key, st.alertKey, st.integrationKey})
			} else {
				retire = append(retire, retired{rule: name, key: key})
			}
			continue
		}
		st.firing = firing
		st.firedAt, st.suppressUntil, st.since, st.lastSeen = fromMillis(firedAt), fromMillis(suppressUntil), fromMillis(since), fromMillis(lastSeen)
		st.value, st.hasValue = value.Float64, value.Valid
		if pending != "" {
			var ev client.Event
			if err := json.Unmarshal([]byte(pending), &ev); err != nil {
				return fmt.Errorf("rules: read state of %s %q: the pending event: %w", name, key, err)
			}
			st.pending = &ev
		}
		if buckets != "" {
			if err := json.Unmarshal([]byte(buckets), &st.buckets); err != nil {
				return fmt.Errorf("rules: read state of %s %q: the counts: %w", name, key, err)
			}
		}
		r := rs.r
		switch r.kind {
		case Threshold:
			// The limit may have changed since the state was saved.
			switch {
			case st.hasValue && !r.breached(st.value):
				st.since = time.Time{}
			case st.hasValue && st.since.IsZero():
				st.since = start
			}
		case MissingHeartbeat:
			if !st.firing && st.lastSeen.Add(r.timeout).Before(start) {
				st.grace = start.Add(min(r.timeout, restartGrace))
			}
		}
		rs.keys[key] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rules: read state: %w", err)
	}
	rows.Close()
	for _, row := range retire {
		if row.integrationKey != "" {
			details, _ := json.Marshal(map[string]any{"rule": row.rule, "reason": "the rule was removed or changed"})
			ev := client.Event{IntegrationKey: row.integrationKey, EventType: "RESOLVE", AlertKey: row.alertKey, CustomDetails: details}
			if err := e.buf.Append(ctx, consumer.Entry{Event: &ev}); err != nil {
				return fmt.Errorf("rules: resolve %q of the removed or changed rule %s: %w", row.alertKey, row.rule, err)
			}
			e.log.Info("rules: RESOLVE of a removed or changed rule", "rule", row.rule, "alert_key", row.alertKey)
		}
		if _, err := e.db.ExecContext(ctx, deleteState, row.rule, row.key); err != nil {
			return fmt.Errorf("rules: delete the state of the removed or changed rule %s: %w", row.rule, err)
		}
	}
	return nil
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
