package store_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// maintenanceNow is the clock of the maintenance tests.
var maintenanceNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// mustWindow stores a window over the sources from start to end, hours after maintenanceNow.
func mustWindow(t *testing.T, db *store.DB, by int64, summary string, start, end float64, sources ...int64) *store.MaintenanceWindow {
	t.Helper()
	w := &store.MaintenanceWindow{Summary: summary, Start: at(start), End: at(end)}
	for _, id := range sources {
		w.AlertSources = append(w.AlertSources, alert.SourceRef{ID: id})
	}
	if err := db.CreateMaintenanceWindow(context.Background(), w, by); err != nil {
		t.Fatalf("create window %s: %v", summary, err)
	}
	return w
}

// at is maintenanceNow plus hours.
func at(hours float64) time.Time {
	return maintenanceNow.Add(time.Duration(hours * float64(time.Hour)))
}

// inMaintenance lists the sources in maintenance at t, in order.
func inMaintenance(t *testing.T, db *store.DB, when time.Time) []int64 {
	t.Helper()
	m, err := db.SourcesInMaintenance(context.Background(), when)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(m))
}

func windowIDs(list []*store.MaintenanceWindow) []int64 {
	ids := []int64{}
	for _, w := range list {
		ids = append(ids, w.ID)
	}
	return ids
}

func TestSourcesInMaintenance(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.Now = func() time.Time { return maintenanceNow }
		f := storetest.NewFixture(t, db)
		a, b, c := f.Source.ID, mustSource(t, db, f.Policy.ID, "b").ID, mustSource(t, db, f.Policy.ID, "c").ID
		mustWindow(t, db, f.User.ID, "db upgrade", 1, 3, a, b)
		late := mustWindow(t, db, f.User.ID, "network", 2, 5, b, c)
		mustWindow(t, db, f.User.ID, "long ago", -48, -24, a, b, c)

		cases := []struct {
			hours float64
			want  []int64
		}{
			{0, nil},           // before both
			{1, []int64{a, b}}, // the start is inside
			{2.5, []int64{a, b, c}},
			{3, []int64{b, c}}, // the end is not
			{4.99, []int64{b, c}},
			{5, nil}, // after both
			{-30, []int64{a, b, c}},
		}
		for _, tc := range cases {
			got := inMaintenance(t, db, at(tc.hours))
			if !slices.Equal(got, tc.want) {
				t.Errorf("at %+.2fh: sources %v, want %v", tc.hours, got, tc.want)
			}
			for _, id := range []int64{a, b, c} {
				on, err := db.InMaintenance(ctx, id, at(tc.hours))
				if err != nil {
					t.Fatal(err)
				}
				if on != slices.Contains(tc.want, id) {
					t.Errorf("at %+.2fh: InMaintenance(%d) = %v", tc.hours, id, on)
				}
			}
		}

		// Ended early: the second window ends at +4h instead of +5h.
		late.End = at(4)
		if err := db.UpdateMaintenanceWindow(ctx, late); err != nil {
			t.Fatal(err)
		}
		if got := inMaintenance(t, db, at(3.5)); !slices.Equal(got, []int64{b, c}) {
			t.Errorf("at +3.5h after ending early: %v", got)
		}
		if got := inMaintenance(t, db, at(4)); len(got) != 0 {
			t.Errorf("at +4h, when the window was ended: %v", got)
		}
		if on, _ := db.InMaintenance(ctx, c, at(4.5)); on {
			t.Error("source c still in maintenance after its window was ended early")
		}
	})
}

func TestMaintenanceWindowRoundTrip(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.Now = func() time.Time { return maintenanceNow }
		f := storetest.NewFixture(t, db)
		ann := mustAccount(t, db, "Ann")
		other := mustSource(t, db, f.Policy.ID, "other")
		berlin, _ := time.LoadLocation("Europe/Berlin")
		w := &store.MaintenanceWindow{
			Timezone: " Europe/Berlin ", Summary: "  DB upgrade ", Description: "the primary moves",
			Start: time.Date(2024, 5, 2, 22, 0, 0, 123456789, berlin), End: time.Date(2024, 5, 3, 2, 0, 0, 0, berlin),
			AlertSources:  []alert.SourceRef{{ID: other.ID}, {ID: f.Source.ID}, {ID: other.ID}},
			Notifications: store.MaintenanceNotifications{AtStart: true, AtEnd: true},
		}
		if err := db.CreateMaintenanceWindow(ctx, w, ann.ID); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`{"id":%d,"timezone":"Europe/Berlin","start":"2024-05-02T20:00:00.123Z","end":"2024-05-03T00:00:00Z",`+
			`"summary":"DB upgrade","description":"the primary moves","alertSources":[`+
			`{"id":%d,"name":"nightly","integrationType":"API"},{"id":%d,"name":"other","integrationType":"API"}],`+
			`"createdBy":%q,"notifications":{"atCreation":false,"atStart":true,"atEnd":true}}`,
			w.ID, f.Source.ID, other.ID, ann.Email)
		if got := asJSON(t, w); got != want {
			t.Errorf("created:\n got  %s\n want %s", got, want)
		}
		got, err := db.MaintenanceWindow(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if asJSON(t, got) != want {
			t.Errorf("read back:\n got  %s\n want %s", asJSON(t, got), want)
		}

		// An update replaces everything but the creator.
		upd := &store.MaintenanceWindow{ID: w.ID, Summary: "shorter", Start: w.Start, End: w.End.Add(-time.Hour),
			AlertSources: []alert.SourceRef{{ID: other.ID}}}
		if err := db.UpdateMaintenanceWindow(ctx, upd); err != nil {
			t.Fatal(err)
		}
		want = fmt.Sprintf(`{"id":%d,"timezone":"UTC","start":"2024-05-02T20:00:00.123Z","end":"2024-05-02T23:00:00Z",`+
			`"summary":"shorter","description":"","alertSources":[{"id":%d,"name":"other","integrationType":"API"}],`+
			`"createdBy":%q,"notifications":{"atCreation":false,"atStart":false,"atEnd":false}}`,
			w.ID, other.ID, ann.Email)
		if got := asJSON(t, upd); got != want {
			t.Errorf("updated:\n got  %s\n want %s", got, want)
		}

		// The creator's deletion leaves the window without one; a deleted source leaves it.
		if err := db.DeleteAccount(ctx, ann.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.DeleteSource(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		got, err = db.MaintenanceWindow(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.CreatedBy != nil || len(got.AlertSources) != 0 {
			t.Errorf("after deleting the creator and the source: createdBy %+v, alertSources %+v", got.CreatedBy, got.AlertSources)
		}
		if m := inMaintenance(t, db, upd.Start); len(m) != 0 {
			t.Errorf("a deleted source is still in maintenance: %v", m)
		}

		if err := db.DeleteMaintenanceWindow(ctx, w.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.MaintenanceWindow(ctx, w.ID)
		wantCode(t, err, fault.NotFound)
		wantCode(t, db.DeleteMaintenanceWindow(ctx, w.ID), fault.NotFound)
		upd.ID = w.ID + 100
		wantCode(t, db.UpdateMaintenanceWindow(ctx, upd), fault.NotFound)
	})
}

func TestMaintenanceWindowRejected(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.Now = func() time.Time { return maintenanceNow }
		f := storetest.NewFixture(t, db)
		valid := func(edit func(w *store.MaintenanceWindow)) *store.MaintenanceWindow {
			w := &store.MaintenanceWindow{Summary: "deploy", Start: at(1), End: at(2), AlertSources: []alert.SourceRef{{ID: f.Source.ID}}}
			edit(w)
			return w
		}
		many := make([]alert.SourceRef, store.MaxMaintenanceSources+1)
		for i := range many {
			many[i] = alert.SourceRef{ID: f.Source.ID}
		}
		cases := map[string]struct {
			w    *store.MaintenanceWindow
			want string
		}{
			"no summary":       {valid(func(w *store.MaintenanceWindow) { w.Summary = "  " }), "summary is required"},
			"long summary":     {valid(func(w *store.MaintenanceWindow) { w.Summary = strings.Repeat("é", 1025) }), "summary must be at most 1024 characters"},
			"long description": {valid(func(w *store.MaintenanceWindow) { w.Description = strings.Repeat("x", 128<<10+1) }), "description must be at most 128 KiB"},
			"no start":         {valid(func(w *store.MaintenanceWindow) { w.Start = time.Time{} }), "start is required"},
			"no end":           {valid(func(w *store.MaintenanceWindow) { w.End = time.Time{} }), "end is required"},
			"end before start": {valid(func(w *store.MaintenanceWindow) { w.End = at(0.5) }), "must be after start"},
			"empty":            {valid(func(w *store.MaintenanceWindow) { w.End = w.Start }), "must be after start"},
			"unknown zone":     {valid(func(w *store.MaintenanceWindow) { w.Timezone = "Europe/Atlantis" }), `timezone "Europe/Atlantis"`},
			"unknown source": {valid(func(w *store.MaintenanceWindow) {
				w.AlertSources = append(w.AlertSources, alert.SourceRef{ID: 4242})
			}), "alert source 4242 does not exist"},
			"source without id": {valid(func(w *store.MaintenanceWindow) { w.AlertSources = []alert.SourceRef{{}} }), "alertSources[0].id is required"},
			"too many sources":  {valid(func(w *store.MaintenanceWindow) { w.AlertSources = many }), "at most 50 entries"},
		}
		for name, c := range cases {
			err := db.CreateMaintenanceWindow(ctx, c.w, f.User.ID)
			if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: err = %v, want Invalid saying %q", name, err, c.want)
			}
			if c.w.ID != 0 {
				t.Errorf("%s: a refused window kept id %d", name, c.w.ID)
			}
		}
		list, err := db.MaintenanceWindows(ctx, store.MaintenanceFilter{}, store.Page{Max: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 {
			t.Fatalf("%d windows stored by refused writes", len(list))
		}

		// A refused update changes nothing.
		w := mustWindow(t, db, f.User.ID, "kept", 1, 2, f.Source.ID)
		bad := valid(func(m *store.MaintenanceWindow) {
			m.ID, m.Summary, m.AlertSources = w.ID, "changed", []alert.SourceRef{{ID: 4242}}
		})
		wantCode(t, db.UpdateMaintenanceWindow(ctx, bad), fault.Invalid)
		got, err := db.MaintenanceWindow(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if asJSON(t, got) != asJSON(t, w) {
			t.Errorf("after a refused update:\n got  %s\n want %s", asJSON(t, got), asJSON(t, w))
		}
		_, err = db.MaintenanceWindows(ctx, store.MaintenanceFilter{State: "SOON"}, store.Page{Max: 10})
		wantCode(t, err, fault.Invalid)
	})
}

func TestMaintenanceWindowsFilter(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.Now = func() time.Time { return maintenanceNow }
		f := storetest.NewFixture(t, db)
		a, b := f.Source.ID, mustSource(t, db, f.Policy.ID, "b").ID
		past := mustWindow(t, db, f.User.ID, "past", -5, -1, a).ID
		now := mustWindow(t, db, f.User.ID, "now", -1, 1, b).ID
		next := mustWindow(t, db, f.User.ID, "next", 24, 26, a, b).ID
		endsNow := mustWindow(t, db, f.User.ID, "ends now", -2, 0).ID
		ptr := func(hours float64) *time.Time { t := at(hours); return &t }

		cases := []struct {
			name string
			f    store.MaintenanceFilter
			pg   store.Page
			want []int64
		}{
			{"all, latest start first", store.MaintenanceFilter{}, store.Page{Max: 10}, []int64{next, now, endsNow, past}},
			{"open", store.MaintenanceFilter{State: store.MaintenanceOpen}, store.Page{Max: 10}, []int64{next, now}},
			{"closed", store.MaintenanceFilter{State: store.MaintenanceClosed}, store.Page{Max: 10}, []int64{endsNow, past}},
			{"source a", store.MaintenanceFilter{Sources: []int64{a}}, store.Page{Max: 10}, []int64{next, past}},
			{"source a or b, open", store.MaintenanceFilter{State: store.MaintenanceOpen, Sources: []int64{a, b}}, store.Page{Max: 10}, []int64{next, now}},
			{"on at -1h", store.MaintenanceFilter{From: ptr(-1), Until: ptr(-1)}, store.Page{Max: 10}, []int64{now, endsNow}},
			{"overlapping -0.5h to +24h", store.MaintenanceFilter{From: ptr(-0.5), Until: ptr(24)}, store.Page{Max: 10}, []int64{next, now, endsNow}},
			{"from +1h", store.MaintenanceFilter{From: ptr(1)}, store.Page{Max: 10}, []int64{next}},
			{"until -3h", store.MaintenanceFilter{Until: ptr(-3)}, store.Page{Max: 10}, []int64{past}},
			{"second page", store.MaintenanceFilter{}, store.Page{Start: 1, Max: 2}, []int64{now, endsNow}},
		}
		for _, c := range cases {
			list, err := db.MaintenanceWindows(ctx, c.f, c.pg)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got := windowIDs(list); !slices.Equal(got, c.want) {
				t.Errorf("%s: windows %v, want %v", c.name, got, c.want)
			}
		}
		list, err := db.MaintenanceWindows(ctx, store.MaintenanceFilter{Sources: []int64{b}, State: store.MaintenanceOpen}, store.Page{Max: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || len(list[0].AlertSources) != 2 || list[0].AlertSources[1].Name != "b" {
			t.Errorf("a filtered list carries every source of its windows: %s", asJSON(t, list))
		}
	})
}
