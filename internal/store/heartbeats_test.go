package store_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/heartbeat"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func mustHeartbeat(t *testing.T, db *store.DB, name string, intervalSec int, sourceID int64, teams ...int64) heartbeat.Monitor {
	t.Helper()
	m := heartbeat.Monitor{Name: name, IntervalSec: intervalSec, SourceID: sourceID, Teams: []auth.TeamRef{}}
	for _, id := range teams {
		m.Teams = append(m.Teams, auth.TeamRef{ID: id})
	}
	if err := db.CreateHeartbeatMonitor(context.Background(), &m); err != nil {
		t.Fatalf("create heartbeat monitor %s: %v", name, err)
	}
	return m
}

func heartbeatNames(t *testing.T, db *store.DB) []string {
	t.Helper()
	list, err := db.HeartbeatMonitors(context.Background(), store.Page{Max: 1000}, 0)
	if err != nil {
		t.Fatalf("list heartbeat monitors: %v", err)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
	}
	return names
}

var urlSafeKey = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestHeartbeatMonitors(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		ops, dev := mustTeam(t, db, "ops"), mustTeam(t, db, "dev")
		backup := mustHeartbeat(t, db, "backup", 300, f.Source.ID, ops.ID)

		t.Run("Created", func(t *testing.T) {
			if backup.ID <= 0 || backup.State != heartbeat.Unknown || backup.LastPingAt != nil || backup.SourceID != f.Source.ID {
				t.Fatalf("created %+v", backup)
			}
			if !urlSafeKey.MatchString(backup.IntegrationKey) {
				t.Fatalf("integration key %q is not 43 URL-safe characters (256 bits)", backup.IntegrationKey)
			}
			if got, want := backup.Teams, []auth.TeamRef{{ID: ops.ID, Name: "ops"}}; !slices.Equal(got, want) {
				t.Fatalf("teams %v, want %v", got, want)
			}
			if backup.CreatedAt.IsZero() || !backup.CreatedAt.Equal(backup.UpdatedAt) {
				t.Fatalf("createdAt %v, updatedAt %v", backup.CreatedAt, backup.UpdatedAt)
			}
			other := mustHeartbeat(t, db, "other", 60, f.Source.ID)
			if other.IntegrationKey == backup.IntegrationKey {
				t.Fatal("two monitors got the same integration key")
			}
			if _, err := db.DeleteHeartbeatMonitor(ctx, other.ID); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("Found", func(t *testing.T) {
			byID, err := db.HeartbeatMonitor(ctx, backup.ID)
			if err != nil || byID.Name != "backup" || len(byID.Teams) != 1 {
				t.Fatalf("by id: %+v, %v", byID, err)
			}
			byName, err := db.HeartbeatMonitorByName(ctx, "backup")
			if err != nil || byName.ID != backup.ID {
				t.Fatalf("by name: %+v, %v", byName, err)
			}
			byKey, err := db.HeartbeatMonitorByKey(ctx, backup.IntegrationKey)
			if err != nil || byKey.ID != backup.ID || byKey.State != heartbeat.Unknown {
				t.Fatalf("by key: %+v, %v", byKey, err)
			}
			for _, err := range []error{
				func() error { _, err := db.HeartbeatMonitor(ctx, backup.ID+100); return err }(),
				func() error { _, err := db.HeartbeatMonitorByName(ctx, "Backup"); return err }(),
				func() error { _, err := db.HeartbeatMonitorByKey(ctx, "nope"); return err }(),
			} {
				if !fault.Is(err, fault.NotFound) {
					t.Errorf("got %v, want NotFound", err)
				}
			}
		})

		t.Run("ErrNameTaken", func(t *testing.T) {
			m := heartbeat.Monitor{Name: "backup", IntervalSec: 60, SourceID: f.Source.ID}
			if err := db.CreateHeartbeatMonitor(ctx, &m); !fault.Is(err, fault.Conflict) {
				t.Fatalf("got %v, want Conflict", err)
			}
			if got := heartbeatNames(t, db); !slices.Equal(got, []string{"backup"}) {
				t.Fatalf("monitors %v after a refused create", got)
			}
		})

		t.Run("ErrUnknownReferences", func(t *testing.T) {
			for _, m := range []heartbeat.Monitor{
				{Name: "x", IntervalSec: 60, SourceID: f.Source.ID + 100},
				{Name: "y", IntervalSec: 60, SourceID: f.Source.ID, Teams: []auth.TeamRef{{ID: ops.ID}, {ID: dev.ID + 100}}},
			} {
				if err := db.CreateHeartbeatMonitor(ctx, &m); !fault.Is(err, fault.Invalid) {
					t.Errorf("create %s: got %v, want Invalid", m.Name, err)
				}
			}
			if got := heartbeatNames(t, db); !slices.Equal(got, []string{"backup"}) {
				t.Fatalf("monitors %v after refused creates", got)
			}
		})

		t.Run("Updated", func(t *testing.T) {
			src2 := mustSource(t, db, f.Policy.ID, "second")
			m := heartbeat.Monitor{ID: backup.ID, Name: "nightly backup", IntervalSec: 3600, AlertSummary: "Backup missing",
				SourceID: src2.ID, Teams: []auth.TeamRef{{ID: dev.ID}}}
			if err := db.UpdateHeartbeatMonitor(ctx, &m); err != nil {
				t.Fatal(err)
			}
			if m.Name != "nightly backup" || m.IntervalSec != 3600 || m.AlertSummary != "Backup missing" || m.SourceID != src2.ID ||
				m.IntegrationKey != backup.IntegrationKey || m.State != heartbeat.Unknown || !m.CreatedAt.Equal(backup.CreatedAt) {
				t.Fatalf("updated %+v", m)
			}
			if got, want := m.Teams, []auth.TeamRef{{ID: dev.ID, Name: "dev"}}; !slices.Equal(got, want) {
				t.Fatalf("teams %v, want %v", got, want)
			}
			missing := heartbeat.Monitor{ID: backup.ID + 100, Name: "z", IntervalSec: 60, SourceID: f.Source.ID}
			if err := db.UpdateHeartbeatMonitor(ctx, &missing); !fault.Is(err, fault.NotFound) {
				t.Fatalf("update of a missing monitor: got %v, want NotFound", err)
			}
			taken := mustHeartbeat(t, db, "taken", 60, f.Source.ID)
			m.Name = "taken"
			if err := db.UpdateHeartbeatMonitor(ctx, &m); !fault.Is(err, fault.Conflict) {
				t.Fatalf("rename to a taken name: got %v, want Conflict", err)
			}
			if _, err := db.DeleteHeartbeatMonitor(ctx, taken.ID); err != nil {
				t.Fatal(err)
			}
			// Deleting a team takes it off the monitor.
			if err := db.DeleteTeam(ctx, nil, dev.ID); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.HeartbeatMonitor(ctx, backup.ID); len(got.Teams) != 0 {
				t.Fatalf("teams %v after the team was deleted", got.Teams)
			}
		})

		t.Run("Paged", func(t *testing.T) {
			for i := range 4 {
				mustHeartbeat(t, db, fmt.Sprintf("page-%d", i), 60, f.Source.ID)
			}
			all, err := db.HeartbeatMonitors(ctx, store.Page{Max: 100}, 0)
			if err != nil || len(all) != 5 {
				t.Fatalf("all: %d, %v", len(all), err)
			}
			page, err := db.HeartbeatMonitors(ctx, store.Page{Start: 1, Max: 2}, 0)
			if err != nil || len(page) != 2 || page[0].ID != all[1].ID || page[1].ID != all[2].ID {
				t.Fatalf("start 1, max 2: %v, %v", page, err)
			}
			after, err := db.HeartbeatMonitors(ctx, store.Page{Max: 2}, all[2].ID)
			if err != nil || len(after) != 2 || after[0].ID != all[3].ID {
				t.Fatalf("after %d: %v, %v", all[2].ID, after, err)
			}
		})

		t.Run("Deleted", func(t *testing.T) {
			m, err := db.DeleteHeartbeatMonitor(ctx, backup.ID)
			if err != nil || m.ID != backup.ID || m.Name != "nightly backup" {
				t.Fatalf("deleted %+v, %v", m, err)
			}
			if _, err := db.DeleteHeartbeatMonitor(ctx, backup.ID); !fault.Is(err, fault.NotFound) {
				t.Fatalf("second delete: got %v, want NotFound", err)
			}
			// Deleting an alert source deletes its monitors.
			if _, err := db.DeleteSource(ctx, f.Source.ID); err != nil {
				t.Fatal(err)
			}
			if got := heartbeatNames(t, db); len(got) != 0 {
				t.Fatalf("monitors %v outlived their alert source", got)
			}
		})
	})
}

// claimIDs claims at now and returns the monitors claimed, with their claims.
func claimIDs(t *testing.T, db *store.DB, now time.Time) (map[int64]heartbeat.Claim, []int64) {
	t.Helper()
	claims, err := db.ClaimHeartbeats(context.Background(), now, now.Add(time.Minute), 100)
	if err != nil {
		t.Fatalf("claim at %v: %v", now, err)
	}
	byID := map[int64]heartbeat.Claim{}
	var ids []int64
	for _, c := range claims {
		byID[c.MonitorID] = c
		ids = append(ids, c.MonitorID)
	}
	slices.Sort(ids)
	return byID, ids
}

func TestHeartbeatPingsAndClaims(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		minute := mustHeartbeat(t, db, "minute", 60, f.Source.ID)
		hourly := mustHeartbeat(t, db, "hourly", 3600, f.Source.ID)
		silent := mustHeartbeat(t, db, "silent", 60, f.Source.ID)
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

		record := func(pings ...heartbeat.Ping) map[int64]heartbeat.State {
			t.Helper()
			states, err := db.RecordPings(ctx, pings)
			if err != nil {
				t.Fatalf("record pings: %v", err)
			}
			return states
		}
		monitor := func(id int64) heartbeat.Monitor {
			t.Helper()
			m, err := db.HeartbeatMonitor(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}

		states := record(heartbeat.Ping{MonitorID: minute.ID, At: t0}, heartbeat.Ping{MonitorID: hourly.ID, At: t0})
		if states[minute.ID] != heartbeat.Healthy || states[hourly.ID] != heartbeat.Healthy || len(states) != 2 {
			t.Fatalf("states after the first pings: %v", states)
		}
		if m := monitor(minute.ID); m.State != heartbeat.Healthy || m.LastPingAt == nil || !m.LastPingAt.Equal(t0) {
			t.Fatalf("after its first ping: %+v", m)
		}

		t.Run("OlderPingIgnored", func(t *testing.T) {
			if states := record(heartbeat.Ping{MonitorID: minute.ID, At: t0.Add(-time.Second)}); len(states) != 0 {
				t.Fatalf("an older ping was written: %v", states)
			}
			if m := monitor(minute.ID); !m.LastPingAt.Equal(t0) {
				t.Fatalf("last ping %v, want %v", m.LastPingAt, t0)
			}
		})

		deadline := heartbeat.Deadline(t0, 60)
		t.Run("DeadlineAsHeartbeatSays", func(t *testing.T) {
			if _, ids := claimIDs(t, db, deadline.Add(-time.Millisecond)); len(ids) != 0 {
				t.Fatalf("claimed %v a millisecond before the deadline", ids)
			}
			claims, ids := claimIDs(t, db, deadline)
			if !slices.Equal(ids, []int64{minute.ID}) {
				t.Fatalf("claimed %v at the deadline, want [%d]", ids, minute.ID)
			}
			c := claims[minute.ID]
			if c.State != heartbeat.Healthy || c.SourceID != f.Source.ID || !c.LastPingAt.Equal(t0) || c.IntervalSec != 60 || c.Name != "minute" {
				t.Fatalf("claim %+v", c)
			}
		})

		t.Run("ClaimHeldUntilItLapses", func(t *testing.T) {
			if _, ids := claimIDs(t, db, deadline.Add(30*time.Second)); len(ids) != 0 {
				t.Fatalf("claimed %v again while the first claim held", ids)
			}
			claims, ids := claimIDs(t, db, deadline.Add(time.Minute+time.Millisecond))
			if !slices.Equal(ids, []int64{minute.ID}) {
				t.Fatalf("claimed %v after the first claim lapsed", ids)
			}
			lapsed := heartbeat.Claim{MonitorID: minute.ID, State: heartbeat.Healthy, SourceID: f.Source.ID, Lease: deadline.Add(time.Minute)}
			if ok, err := db.SetHeartbeatState(ctx, lapsed, heartbeat.Overdue); ok || err != nil {
				t.Fatalf("a lapsed claim wrote the state: %v, %v", ok, err)
			}
			if ok, err := db.SetHeartbeatState(ctx, claims[minute.ID], heartbeat.Overdue); !ok || err != nil {
				t.Fatalf("the holding claim did not write the state: %v, %v", ok, err)
			}
			if m := monitor(minute.ID); m.State != heartbeat.Overdue || m.OverdueSourceID != f.Source.ID {
				t.Fatalf("after the claim: %+v", m)
			}
			if _, ids := claimIDs(t, db, deadline.Add(time.Hour)); slices.Contains(ids, minute.ID) {
				t.Fatal("an OVERDUE monitor without a new ping was claimed again")
			}
		})

		t.Run("PingAfterOverdue", func(t *testing.T) {
			// The monitor moves to another source; its RESOLVE must still go where its alert is.
			other := mustSource(t, db, f.Policy.ID, "other")
			m := monitor(minute.ID)
			m.SourceID = other.ID
			if err := db.UpdateHeartbeatMonitor(ctx, &m); err != nil {
				t.Fatal(err)
			}
			t1 := deadline.Add(2 * time.Hour)
			if states := record(heartbeat.Ping{MonitorID: minute.ID, At: t1}); states[minute.ID] != heartbeat.Overdue {
				t.Fatalf("a ping settled the state itself: %v", states)
			}
			claims, ids := claimIDs(t, db, t1)
			c := claims[minute.ID]
			if !slices.Contains(ids, minute.ID) || c.State != heartbeat.Overdue || c.SourceID != f.Source.ID {
				t.Fatalf("claims %v, want minute OVERDUE towards source %d", claims, f.Source.ID)
			}
			if ok, err := db.SetHeartbeatState(ctx, c, heartbeat.Healthy); !ok || err != nil {
				t.Fatalf("set HEALTHY: %v, %v", ok, err)
			}
			if m := monitor(minute.ID); m.State != heartbeat.Healthy || m.OverdueSourceID != 0 || !m.LastPingAt.Equal(t1) {
				t.Fatalf("after the RESOLVE: %+v", m)
			}
		})

		t.Run("IntervalChangeMovesTheDeadline", func(t *testing.T) {
			m := mustHeartbeat(t, db, "shrinking", 3600, f.Source.ID)
			t2 := t0.Add(10 * time.Hour)
			record(heartbeat.Ping{MonitorID: m.ID, At: t2})
			if _, ids := claimIDs(t, db, heartbeat.Deadline(t2, 25)); slices.Contains(ids, m.ID) {
				t.Fatal("claimed long before its deadline")
			}
			m.IntervalSec = 25
			if err := db.UpdateHeartbeatMonitor(ctx, &m); err != nil {
				t.Fatal(err)
			}
			if _, ids := claimIDs(t, db, heartbeat.Deadline(t2, 25)); !slices.Equal(ids, []int64{m.ID}) {
				t.Fatalf("claimed %v at the shorter deadline, want [%d]", ids, m.ID)
			}
		})

		t.Run("NeverPingedNeverClaimed", func(t *testing.T) {
			if _, ids := claimIDs(t, db, t0.Add(365*24*time.Hour)); slices.Contains(ids, silent.ID) {
				t.Fatal("a monitor that never pinged was claimed")
			}
			if m := monitor(silent.ID); m.State != heartbeat.Unknown {
				t.Fatalf("state %s", m.State)
			}
		})

		t.Run("ManyPingsAtOnce", func(t *testing.T) {
			var pings []heartbeat.Ping
			for i := range 520 { // more than one SQLite statement holds
				m := mustHeartbeat(t, db, fmt.Sprintf("many-%d", i), 60, f.Source.ID)
				pings = append(pings, heartbeat.Ping{MonitorID: m.ID, At: t0.Add(time.Duration(i) * time.Millisecond)})
			}
			pings = append(pings, heartbeat.Ping{MonitorID: 1 << 40, At: t0}) // deleted meanwhile
			states := record(pings...)
			if len(states) != 520 {
				t.Fatalf("%d monitors written, want 520", len(states))
			}
			last := pings[519]
			if m := monitor(last.MonitorID); m.State != heartbeat.Healthy || !m.LastPingAt.Equal(last.At) {
				t.Fatalf("the last monitor: %+v", m)
			}
		})
	})
}

// Replicas claiming at the same moment share the due monitors out: each is claimed once.
func TestHeartbeatClaimsAcrossReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		replicas := []*store.DB{storetest.MustOpen(t, dsn), storetest.MustOpen(t, dsn)}
		f := storetest.NewFixture(t, replicas[0])
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		var pings []heartbeat.Ping
		for i := range 60 {
			m := mustHeartbeat(t, replicas[0], fmt.Sprintf("m%d", i), 60, f.Source.ID)
			pings = append(pings, heartbeat.Ping{MonitorID: m.ID, At: t0})
		}
		if _, err := replicas[0].RecordPings(ctx, pings); err != nil {
			t.Fatal(err)
		}
		now := heartbeat.Deadline(t0, 60)
		var mu sync.Mutex
		claimed := map[int64]int{}
		var wg sync.WaitGroup
		for _, db := range replicas {
			for range 3 {
				wg.Go(func() {
					for {
						claims, err := db.ClaimHeartbeats(ctx, now, now.Add(time.Minute), 7)
						if err != nil {
							t.Error(err)
							return
						}
						if len(claims) == 0 {
							return
						}
						mu.Lock()
						for _, c := range claims {
							claimed[c.MonitorID]++
						}
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		if len(claimed) != 60 {
			t.Fatalf("%d monitors claimed, want 60", len(claimed))
		}
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("monitor %d claimed %d times", id, n)
			}
		}
	})
}
