package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
	"github.com/tocsinhq/tocsin/internal/supporthours"
)

func officeHours(name string, teams ...int64) supporthours.Hours {
	h := supporthours.Hours{Name: name, TimeZone: "Europe/Berlin",
		SupportDays: map[string]*supporthours.Range{"MONDAY": {Start: "08:00", End: "17:00"}, "FRIDAY": {Start: "22:00", End: "06:00"}},
		Exceptions:  []supporthours.Exception{{Name: "Christmas", Start: "2024-12-24", End: "2024-12-26", SupportStatus: "OUTSIDE"}}}
	for _, id := range teams {
		h.Teams = append(h.Teams, auth.TeamRef{ID: id})
	}
	return h
}

func newHoursTeam(t *testing.T, db *store.DB, name string) auth.Team {
	t.Helper()
	team := auth.Team{Name: name}
	if err := db.CreateTeam(context.Background(), nil, &team); err != nil {
		t.Fatal(err)
	}
	return team
}

func TestSupportHoursCRUD(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ops := newHoursTeam(t, db, "Ops")

		h := officeHours(" Office ", ops.ID)
		if err := db.CreateSupportHours(ctx, &h); err != nil {
			t.Fatal(err)
		}
		if h.ID == 0 || h.Name != "Office" || len(h.Teams) != 1 || h.Teams[0].Name != "Ops" || len(h.SupportDays) != 7 ||
			h.SupportDays["TUESDAY"] != nil || h.SupportDays["FRIDAY"].End != "06:00" || len(h.Exceptions) != 1 {
			t.Fatalf("created: %+v", h)
		}

		got, err := db.SupportHoursByID(ctx, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Office" || got.TimeZone != "Europe/Berlin" || got.Teams[0].ID != ops.ID ||
			got.SupportDays["MONDAY"].Start != "08:00" || got.Exceptions[0] != h.Exceptions[0] {
			t.Errorf("read back: %+v", got)
		}
		// What is read works as a calendar: Monday 2024-03-04 10:00 in Berlin is inside.
		cal, err := got.Calendar()
		if err != nil {
			t.Fatal(err)
		}
		if !cal.Inside(time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)) {
			t.Error("the stored hours do not cover Monday 10:00")
		}

		same := officeHours("Office")
		if err := db.CreateSupportHours(ctx, &same); err != nil {
			t.Fatalf("a second support hours with the same name: %v", err)
		}
		byName, err := db.SupportHoursByName(ctx, "Office")
		if err != nil || byName.ID != h.ID {
			t.Errorf("by name: %+v, %v; want the oldest, %d", byName, err, h.ID)
		}
		_, err = db.SupportHoursByName(ctx, "office")
		requireCode(t, err, fault.NotFound)

		h.Name, h.Teams = "Office hours", nil
		h.SupportDays = map[string]*supporthours.Range{"SUNDAY": {Start: "00:00", End: "00:00"}}
		h.Exceptions = nil
		if err := db.UpdateSupportHours(ctx, &h, nil); err != nil {
			t.Fatal(err)
		}
		got, _ = db.SupportHoursByID(ctx, h.ID)
		if got.Name != "Office hours" || len(got.Teams) != 0 || got.SupportDays["MONDAY"] != nil ||
			got.SupportDays["SUNDAY"] == nil || len(got.Exceptions) != 0 {
			t.Errorf("after update: %+v", got)
		}

		missing := officeHours("x")
		missing.ID = 999
		requireCode(t, db.UpdateSupportHours(ctx, &missing, nil), fault.NotFound)

		if err := db.DeleteSupportHours(ctx, h.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.SupportHoursByID(ctx, h.ID)
		requireCode(t, err, fault.NotFound)
		requireCode(t, db.DeleteSupportHours(ctx, h.ID), fault.NotFound)
	})
}

func TestListSupportHours(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ops, dev := newHoursTeam(t, db, "Ops"), newHoursTeam(t, db, "Dev")
		empty, err := db.AllSupportHours(ctx)
		if err != nil || empty == nil || len(empty) != 0 {
			t.Fatalf("no support hours: %v, %v", empty, err)
		}
		for i, name := range []string{"a", "b", "c"} {
			h := officeHours(name, []int64{ops.ID, dev.ID}[:i]...)
			if err := db.CreateSupportHours(ctx, &h); err != nil {
				t.Fatal(err)
			}
		}
		page, err := db.ListSupportHours(ctx, store.Page{Start: 1, Max: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 2 || page[0].Name != "b" || page[1].Name != "c" || len(page[0].Teams) != 1 || len(page[1].Teams) != 2 {
			t.Errorf("page from 1: %+v", page)
		}
		all, err := db.AllSupportHours(ctx)
		if err != nil || len(all) != 3 || all[0].Name != "a" || len(all[0].Teams) != 0 || all[2].Teams[1].Name != "Dev" {
			t.Errorf("all: %+v, %v", all, err)
		}
	})
}

// TestSupportHoursRefused checks that bad support hours and unknown teams are refused with
// the reason, and that nothing is written.
func TestSupportHoursRefused(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keep := officeHours("keep")
		if err := db.CreateSupportHours(ctx, &keep); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			edit func(h *supporthours.Hours)
			want string
		}{
			{"ErrTimeZone", func(h *supporthours.Hours) { h.TimeZone = "Europe/Nowhere" }, "timezone"},
			{"ErrTime", func(h *supporthours.Hours) { h.SupportDays["MONDAY"].End = "17h" }, "supportDays.MONDAY.end"},
			{"ErrDay", func(h *supporthours.Hours) { h.SupportDays["MON"] = nil }, `"MON" is not a day`},
			{"ErrException", func(h *supporthours.Hours) { h.Exceptions[0].End = "2024-12-01" }, "exceptions[0]: end"},
			{"ErrUnknownTeam", func(h *supporthours.Hours) { h.Teams = []auth.TeamRef{{ID: 404}} }, "team 404 does not exist"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := officeHours("new")
				c.edit(&h)
				err := db.CreateSupportHours(ctx, &h)
				requireCode(t, err, fault.Invalid)
				if !strings.Contains(fault.MessageOf(err), c.want) {
					t.Errorf("create: message %q does not say %q", fault.MessageOf(err), c.want)
				}
				if h.ID != 0 {
					t.Errorf("refused create left ID %d", h.ID)
				}
				upd := officeHours("changed")
				c.edit(&upd)
				upd.ID = keep.ID
				requireCode(t, db.UpdateSupportHours(ctx, &upd, nil), fault.Invalid)
				all, err := db.AllSupportHours(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(all) != 1 || all[0].Name != "keep" || all[0].TimeZone != "Europe/Berlin" || len(all[0].Exceptions) != 1 {
					t.Errorf("after refused writes: %+v", all)
				}
			})
		}
	})
}

// TestSupportHoursTeamDeleted checks that deleting a team takes it out of the support hours
// that name it, and leaves the support hours.
func TestSupportHoursTeamDeleted(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ops, dev := newHoursTeam(t, db, "Ops"), newHoursTeam(t, db, "Dev")
		h := officeHours("Office", ops.ID, dev.ID)
		if err := db.CreateSupportHours(ctx, &h); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteTeam(ctx, nil, ops.ID); err != nil {
			t.Fatal(err)
		}
		got, err := db.SupportHoursByID(ctx, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Teams) != 1 || got.Teams[0].ID != dev.ID {
			t.Errorf("teams after deleting Ops: %+v", got.Teams)
		}
	})
}

// Changing support hours moves the auto-raises of the sources that use them in the same
// transaction: when working one out fails, nothing changes.
func TestUpdateSupportHoursMovesRaises(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := officeHours("Office")
		if err := db.CreateSupportHours(ctx, &h); err != nil {
			t.Fatal(err)
		}
		p := mustPolicy(t, db, onePolicy("p", mustAccount(t, db, "Ann").ID))
		at := time.Date(2030, 1, 7, 8, 0, 0, 0, time.UTC)
		src := &alert.Source{Name: "s", IntegrationType: "API", EscalationPolicy: policyRef(p.ID), HoursRefs: []int64{h.ID}, RaiseAt: &at}
		if err := db.CreateSource(ctx, src, nil); err != nil {
			t.Fatal(err)
		}
		raise := func() time.Time {
			t.Helper()
			far := at.Add(24 * time.Hour)
			due, err := db.ClaimRaises(ctx, far, far, 10)
			if err != nil || len(due) != 1 {
				t.Fatalf("raises %+v, %v", due, err)
			}
			if err := db.SetRaise(ctx, src.ID, &due[0].DueAt); err != nil { // the claim given back
				t.Fatal(err)
			}
			return due[0].DueAt
		}

		upd := h
		upd.Name = "Changed"
		err := db.UpdateSupportHours(ctx, &upd, func(context.Context, *alert.Source, []supporthours.Hours) (*time.Time, error) {
			return nil, errors.New("no next raise")
		})
		if err == nil {
			t.Fatal("the update succeeded though a raise could not be worked out")
		}
		if got, _ := db.SupportHoursByID(ctx, h.ID); got.Name != "Office" {
			t.Fatalf("half an update: the hours are now named %q", got.Name)
		}
		if got := raise(); !got.Equal(at) {
			t.Fatalf("raise at %s, want %s", got, at)
		}

		later := at.Add(time.Hour)
		upd = h
		upd.Name = "Changed"
		err = db.UpdateSupportHours(ctx, &upd, func(_ context.Context, s *alert.Source, hh []supporthours.Hours) (*time.Time, error) {
			if s.ID != src.ID || len(hh) != 1 || hh[0].Name != "Changed" {
				t.Errorf("asked for source %d with hours %+v", s.ID, hh)
			}
			return &later, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := raise(); !got.Equal(later) {
			t.Fatalf("raise at %s, want %s", got, later)
		}
	})
}

// A source saved while its support hours change ends up with the raise of the hours as they
// end up: the source's save works its raise out from the hours it locks, and an update of the
// hours moves the raises of the sources it finds.
func TestSourceRaiseFollowsConcurrentHoursUpdates(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := officeHours("v0")
		if err := db.CreateSupportHours(ctx, &h); err != nil {
			t.Fatal(err)
		}
		p := mustPolicy(t, db, onePolicy("p", mustAccount(t, db, "Ann").ID))
		base := time.Date(2030, 1, 7, 8, 0, 0, 0, time.UTC)
		// The raise names the version of the hours it was worked out from: v<n> raises n minutes after base.
		next := func(_ context.Context, _ *alert.Source, hours []supporthours.Hours) (*time.Time, error) {
			var n int
			if _, err := fmt.Sscanf(hours[0].Name, "v%d", &n); err != nil {
				return nil, err
			}
			at := base.Add(time.Duration(n) * time.Minute)
			return &at, nil
		}
		src := &alert.Source{Name: "s", IntegrationType: "API", EscalationPolicy: policyRef(p.ID), HoursRefs: []int64{h.ID}}
		if err := db.CreateSource(ctx, src, next); err != nil {
			t.Fatal(err)
		}
		const rounds = 20
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 1; i <= rounds; i++ {
				upd := h
				upd.Name = fmt.Sprintf("v%d", i)
				if err := db.UpdateSupportHours(ctx, &upd, next); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for range rounds {
				s := &alert.Source{ID: src.ID, Name: "s", IntegrationType: "API", EscalationPolicy: policyRef(p.ID), HoursRefs: []int64{h.ID}}
				if err := db.UpdateSource(ctx, s, next); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Wait()
		far := base.Add(24 * time.Hour)
		due, err := db.ClaimRaises(ctx, far, far, 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("raises %+v, %v", due, err)
		}
		if want := base.Add(rounds * time.Minute); !due[0].DueAt.Equal(want) {
			t.Fatalf("raise at %s, want %s (from the hours as they ended up)", due[0].DueAt, want)
		}
	})
}
