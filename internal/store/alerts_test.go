package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// entryIDs returns the ids of entries, for comparing pages.
func entryIDs(entries []alert.LogEntry) []int64 {
	ids := make([]int64, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

// A flapping alert: 120 events on one key, a comment after every third, and an unknown routing
// key on the first. Pages and filters pick the same entries whatever the length of the timeline.
func TestLogEntriesPagingAndFilters(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		first := ev(alert.EventAlert, "flap", "flap 0")
		first.RoutingKey = "nowhere"
		id := apply(t, db, f.Source, first)[0].AlertID
		for i := 1; i < 120; i++ {
			apply(t, db, f.Source, ev(alert.EventAlert, "flap", fmt.Sprint("flap ", i)))
			if i%3 == 2 {
				if _, err := db.CommentAlert(ctx, id, fmt.Sprint("comment ", i/3), f.User); err != nil {
					t.Fatal(err)
				}
			}
		}
		// 120 received, 1 not routed (both categories), 40 comments (updates).
		all, err := db.LogEntries(ctx, id, nil, store.Page{Max: 1000})
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for i, e := range all {
			count[e.LogEntryType]++
			if i > 0 && e.ID <= all[i-1].ID {
				t.Fatalf("entries out of order at %d: %d after %d", i, e.ID, all[i-1].ID)
			}
		}
		if len(all) != 161 || count[alert.LogReceived] != 120 || count[alert.LogNotRouted] != 1 || count[alert.LogCommentByUser] != 40 {
			t.Fatalf("timeline of %d entries: %v", len(all), count)
		}
		// of keeps the entries of all that have one of the filter types, as FilterTypes reports them.
		of := func(filterTypes ...string) []alert.LogEntry {
			var out []alert.LogEntry
			for _, e := range all {
				if slices.ContainsFunc(e.FilterTypes, func(ft string) bool { return slices.Contains(filterTypes, ft) }) {
					out = append(out, e)
				}
			}
			return out
		}
		sources, updates := of(alert.FilterSourceEvents), of(alert.FilterUpdates)
		if len(sources) != 121 || len(updates) != 41 {
			t.Fatalf("%d source events and %d updates, want 121 and 41", len(sources), len(updates))
		}
		tests := []struct {
			name        string
			filterTypes []string
			page        store.Page
			want        []alert.LogEntry
		}{
			{"AllPage2", nil, store.Page{Start: 50, Max: 50}, all[50:100]},
			{"AllLastPage", nil, store.Page{Start: 150, Max: 50}, all[150:]},
			{"AllPastTheEnd", nil, store.Page{Start: 161, Max: 50}, nil},
			{"SourceEventsPage2", []string{alert.FilterSourceEvents}, store.Page{Start: 50, Max: 50}, sources[50:100]},
			{"SourceEventsLastPage", []string{alert.FilterSourceEvents}, store.Page{Start: 100, Max: 50}, sources[100:]},
			{"UpdatesFirstPage", []string{alert.FilterUpdates}, store.Page{Max: 50}, updates},
			{"UpdatesFromThe30th", []string{alert.FilterUpdates}, store.Page{Start: 30, Max: 50}, updates[30:]},
			{"BothAreAll", []string{alert.FilterUpdates, alert.FilterSourceEvents}, store.Page{Start: 50, Max: 50}, all[50:100]},
			{"NotificationsNone", []string{alert.FilterNotifications}, store.Page{Max: 50}, nil},
			{"NotificationsAndUpdates", []string{alert.FilterNotifications, alert.FilterUpdates}, store.Page{Start: 1, Max: 10}, updates[1:11]},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := db.LogEntries(ctx, id, tc.filterTypes, tc.page)
				if err != nil {
					t.Fatal(err)
				}
				if got == nil {
					t.Fatal("got nil, want a (possibly empty) list")
				}
				if !slices.Equal(entryIDs(got), entryIDs(tc.want)) {
					t.Fatalf("got ids %v, want %v", entryIDs(got), entryIDs(tc.want))
				}
			})
		}
		t.Run("FieldsOfAPage", func(t *testing.T) {
			got, err := db.LogEntries(ctx, id, []string{alert.FilterUpdates}, store.Page{Max: 1})
			if err != nil {
				t.Fatal(err)
			}
			e := got[0]
			if e.LogEntryType != alert.LogNotRouted || e.AlertID != id || e.Timestamp.IsZero() ||
				fmt.Sprint(e.FilterTypes) != fmt.Sprint([]string{alert.FilterSourceEvents, alert.FilterUpdates}) {
				t.Fatalf("first update: %+v", e)
			}
			got, err = db.LogEntries(ctx, id, []string{alert.FilterSourceEvents}, store.Page{Start: 2, Max: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Vars["eventCount"] != "2" || got[0].Text != "Event received: flap 1" {
				t.Fatalf("third source event: %+v", got[0])
			}
		})
		t.Run("ErrAlertNotFound", func(t *testing.T) {
			_, err := db.LogEntries(ctx, id+1000, nil, store.Page{Max: 10})
			wantCode(t, err, fault.NotFound)
		})
	})
}

func TestCreateManualAlert(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		other := newAccount(t, db, "other@example.com", auth.Responder)
		m := store.ManualAlert{Summary: "by hand", SourceID: f.Source.ID}

		t.Run("RespondersDeduplicated", func(t *testing.T) {
			m := m
			m.Responders = []int64{other.ID, f.User.ID, other.ID}
			a, err := db.CreateManualAlert(ctx, m, f.User)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range a.Responders {
				got = append(got, r.User.ID)
			}
			slices.Sort(got)
			if want := []int64{f.User.ID, other.ID}; !slices.Equal(got, want) {
				t.Fatalf("responders %v, want %v", got, want)
			}
			if a.EscalationPolicy.ID != f.Policy.ID || a.Priority != alert.High {
				t.Fatalf("policy %d and priority %s, want the source's %d and HIGH", a.EscalationPolicy.ID, a.Priority, f.Policy.ID)
			}
		})
		for name, change := range map[string]func(*store.ManualAlert){
			"ErrUnknownSource":    func(m *store.ManualAlert) { m.SourceID += 1000 },
			"ErrUnknownPolicy":    func(m *store.ManualAlert) { m.PolicyID = f.Policy.ID + 1000 },
			"ErrUnknownResponder": func(m *store.ManualAlert) { m.Responders = []int64{other.ID + 1000} },
		} {
			t.Run(name, func(t *testing.T) {
				m := m
				change(&m)
				_, err := db.CreateManualAlert(ctx, m, f.User)
				wantCode(t, err, fault.Invalid)
			})
		}
	})
}

// A source whose stored config cannot be read is a failure of the database, not of the request.
func TestCreateManualAlertBrokenSourceConfig(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := storetest.MustOpen(t, dsn)
		f := storetest.NewFixture(t, db)
		driver := "sqlite"
		if store.IsPostgres(dsn) {
			driver = "pgx"
		}
		raw, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.ExecContext(ctx, `UPDATE alert_sources SET config = 'not json' WHERE id = $1`, f.Source.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.CreateManualAlert(ctx, store.ManualAlert{Summary: "s", SourceID: f.Source.ID}, f.User)
		if err == nil || fault.CodeOf(err) != fault.Internal {
			t.Fatalf("err = %v, want an internal error", err)
		}
		if n, _ := db.CountAlerts(ctx, store.AlertFilter{}); n != 0 {
			t.Fatalf("%d alerts, want none", n)
		}
	})
}

func TestAddResponder(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		other := newAccount(t, db, "other@example.com", auth.Responder)
		id := apply(t, db, f.Source, ev(alert.EventAlert, "r", "responders"))[0].AlertID

		r, err := db.AddResponder(ctx, id, other.ID, f.User)
		if err != nil || r.User.ID != other.ID || r.Status != alert.Pending {
			t.Fatalf("AddResponder: %+v, %v", r, err)
		}
		t.Run("ErrAlreadyResponder", func(t *testing.T) {
			_, err := db.AddResponder(ctx, id, other.ID, f.User)
			wantCode(t, err, fault.Conflict)
		})
		t.Run("ErrUnknownUser", func(t *testing.T) {
			_, err := db.AddResponder(ctx, id, other.ID+1000, f.User)
			wantCode(t, err, fault.Invalid)
		})
		t.Run("ErrUnknownAlert", func(t *testing.T) {
			_, err := db.AddResponder(ctx, id+1000, other.ID, f.User)
			wantCode(t, err, fault.NotFound)
		})
	})
}

// Deleting a source deletes its alerts. Adding a responder to one of them at the same moment
// either succeeds or finds the alert gone; it never blames the user.
func TestAddResponderRacesAlertDeletion(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		for i := range 30 {
			src := &alert.Source{Name: fmt.Sprint("doomed ", i), IntegrationType: "API", EscalationPolicy: f.Source.EscalationPolicy}
			if err := db.CreateSource(ctx, src, nil); err != nil {
				t.Fatal(err)
			}
			id := apply(t, db, src, ev(alert.EventAlert, "k", "s"))[0].AlertID
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := db.DeleteSource(ctx, src.ID); err != nil {
					t.Error(err)
				}
			})
			_, err := db.AddResponder(ctx, id, f.User.ID, f.User)
			wg.Wait()
			if err != nil && !fault.Is(err, fault.NotFound) {
				t.Fatalf("round %d: err = %v, want none or NotFound", i, err)
			}
		}
	})
}
