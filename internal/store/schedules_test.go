package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// berlin reads "2006-01-02 15:04" on Berlin's clock.
func berlin(t *testing.T, s string) time.Time {
	t.Helper()
	loc, _ := zone.Load("Europe/Berlin")
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// weekly returns a RECURRING Berlin schedule rotating users weekly from Monday 2024-01-01 09:00.
func weekly(name string, users ...int64) *schedule.Schedule {
	l := schedule.Layer{Name: "primary", StartsOn: schedule.MustWall("2024-01-01T09:00"), Rotation: "P7D"}
	for _, id := range users {
		l.Users = append(l.Users, auth.Ref{ID: id})
	}
	return &schedule.Schedule{Name: name, Timezone: "Europe/Berlin", Type: schedule.Recurring, ShowGaps: true, ScheduleLayers: []schedule.Layer{l}}
}

func mustSchedule(t *testing.T, db *store.DB, s *schedule.Schedule) *schedule.Schedule {
	t.Helper()
	if err := db.CreateSchedule(context.Background(), s, false); err != nil {
		t.Fatalf("create schedule %s: %v", s.Name, err)
	}
	return s
}

func countSchedules(t *testing.T, db *store.DB) int {
	t.Helper()
	list, err := db.Schedules(context.Background(), store.Page{Max: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCreateSchedule(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann, bob := mustAccount(t, db, "Ann"), mustAccount(t, db, "Bob")
		ops := mustTeam(t, db, "ops")
		s := &schedule.Schedule{
			Name: " Primary ", Timezone: "Europe/Berlin", Type: "recurring", ShowGaps: true, DefaultShiftDuration: "P7D",
			Teams: []auth.TeamRef{{ID: ops.ID}},
			ScheduleLayers: []schedule.Layer{
				{Name: "nights", StartsOn: schedule.MustWall("2024-01-01T08:00:00Z"), EndsOn: schedule.MustWall("2025-01-01T00:00"),
					Users: []auth.Ref{{ID: bob.ID}, {ID: ann.ID}, {ID: bob.ID}}, Rotation: "p7d", RestrictionType: "time_of_week",
					Restrictions: []schedule.Restriction{{From: schedule.TimeOfWeek{DayOfWeek: "monday", Time: "18:00"}, To: schedule.TimeOfWeek{DayOfWeek: "TUESDAY", Time: "08:00"}}}},
				{StartsOn: schedule.MustWall("2024-01-06T00:00"), Users: []auth.Ref{{ID: ann.ID}}, Rotation: "PT12H"},
			},
			Shifts: []schedule.StaticShift{{User: auth.Ref{ID: 999}}}, // not for a RECURRING schedule: dropped
		}
		if err := db.CreateSchedule(ctx, s, false); err != nil {
			t.Fatal(err)
		}
		if s.ID == 0 {
			t.Fatal("no id set")
		}
		want := fmt.Sprintf(`{"id":%d,"name":"Primary","timezone":"Europe/Berlin","type":"RECURRING","scheduleLayers":[`+
			`{"name":"nights","startsOn":"2024-01-01T09:00","endsOn":"2025-01-01T00:00","users":[{"id":%d,"firstName":"Bob","lastName":"Tester"},{"id":%d,"firstName":"Ann","lastName":"Tester"},{"id":%[2]d,"firstName":"Bob","lastName":"Tester"}],`+
			`"rotation":"P7D","restrictionType":"TIME_OF_WEEK","restrictions":[{"from":{"dayOfWeek":"MONDAY","time":"18:00"},"to":{"dayOfWeek":"TUESDAY","time":"08:00"}}]},`+
			`{"name":"","startsOn":"2024-01-06T00:00","endsOn":null,"users":[{"id":%[3]d,"firstName":"Ann","lastName":"Tester"}],"rotation":"PT12H","restrictions":[]}],`+
			`"showGaps":true,"defaultShiftDuration":"P7D","teams":[{"id":%d,"name":"ops"}]}`, s.ID, bob.ID, ann.ID, ops.ID)
		if got := asJSON(t, s); got != want {
			t.Errorf("created:\n got  %s\n want %s", got, want)
		}
		got, err := db.Schedule(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if asJSON(t, got) != want {
			t.Errorf("read back:\n got  %s\n want %s", asJSON(t, got), want)
		}
		byName, err := db.ScheduleByName(ctx, "Primary")
		if err != nil || byName.ID != s.ID {
			t.Errorf("ScheduleByName = %v, %v", byName, err)
		}
		_, err = db.ScheduleByName(ctx, "primary")
		wantCode(t, err, fault.NotFound)
		_, err = db.Schedule(ctx, s.ID+100)
		wantCode(t, err, fault.NotFound)
	})
}

func TestStaticScheduleRoundTrip(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		s := &schedule.Schedule{Name: "static", Timezone: "Asia/Kolkata", Type: schedule.Static, ScheduleLayers: []schedule.Layer{{}},
			Shifts: []schedule.StaticShift{
				{User: auth.Ref{ID: ann.ID}, Start: schedule.MustWall("2024-02-01T09:00"), End: schedule.MustWall("2024-02-02T03:30:00Z")},
			}}
		if err := db.CreateSchedule(ctx, s, false); err != nil {
			t.Fatal(err)
		}
		if len(s.ScheduleLayers) != 0 || len(s.Shifts) != 1 {
			t.Fatalf("stored %d layers and %d shifts, want 0 and 1", len(s.ScheduleLayers), len(s.Shifts))
		}
		if got := s.Shifts[0].Start.String() + " " + s.Shifts[0].End.String(); got != "2024-02-01T09:00 2024-02-02T09:00" {
			t.Errorf("static shift on Kolkata's clock: %s", got)
		}
		on, err := db.OnCallUsers(ctx, []int64{s.ID}, time.Date(2024, 2, 2, 3, 29, 0, 0, time.UTC))
		if err != nil || on[s.ID] != ann.ID {
			t.Errorf("OnCallUsers in the shift = %v, %v", on, err)
		}
	})
}

func TestCreateScheduleRejected(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		cases := map[string]struct {
			s    *schedule.Schedule
			want string
		}{
			"unknown user":      {weekly("a", ann.ID, 4242), "user 4242 does not exist"},
			"unknown team":      {func() *schedule.Schedule { s := weekly("b", ann.ID); s.Teams = []auth.TeamRef{{ID: 77}}; return s }(), "team 77 does not exist"},
			"bad rotation":      {func() *schedule.Schedule { s := weekly("c", ann.ID); s.ScheduleLayers[0].Rotation = "weekly"; return s }(), "rotation"},
			"unknown zone":      {func() *schedule.Schedule { s := weekly("d", ann.ID); s.Timezone = "Europe/Atlantis"; return s }(), "Europe/Atlantis"},
			"static, no shifts": {&schedule.Schedule{Name: "e", Timezone: "UTC", Type: schedule.Static}, "at least one entry in shifts"},
		}
		for name, c := range cases {
			err := db.CreateSchedule(ctx, c.s, false)
			if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: err = %v, want Invalid saying %q", name, err, c.want)
			}
			if c.s.ID != 0 {
				t.Errorf("%s: a refused schedule kept id %d", name, c.s.ID)
			}
		}
		if n := countSchedules(t, db); n != 0 {
			t.Fatalf("%d schedules stored by refused writes", n)
		}
	})
}

func TestAbortOnGaps(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.Now = func() time.Time { return berlin(t, "2024-03-04 12:00") }
		ann, bob := mustAccount(t, db, "Ann"), mustAccount(t, db, "Bob")
		nights := weekly("nights", ann.ID, bob.ID)
		nights.ScheduleLayers[0].Restrictions = []schedule.Restriction{{From: schedule.TimeOfWeek{DayOfWeek: "FRIDAY", Time: "18:00"}, To: schedule.TimeOfWeek{DayOfWeek: "MONDAY", Time: "08:00"}}}
		err := db.CreateSchedule(ctx, nights, true)
		if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "nobody on call from 2024-03-04T12:00 to 2024-03-08T18:00") {
			t.Fatalf("err = %v, want Invalid naming the first gap", err)
		}
		if n := countSchedules(t, db); n != 0 {
			t.Fatalf("a schedule with gaps was stored despite abort-on-gaps")
		}
		if err := db.CreateSchedule(ctx, nights, false); err != nil {
			t.Fatalf("without abort-on-gaps: %v", err)
		}
		full := weekly("full", ann.ID, bob.ID)
		if err := db.CreateSchedule(ctx, full, true); err != nil {
			t.Fatalf("a schedule without gaps: %v", err)
		}
		full.ScheduleLayers[0].EndsOn = schedule.MustWall("2024-03-20T00:00")
		err = db.UpdateSchedule(ctx, full, true)
		wantCode(t, err, fault.Invalid)
		got, _ := db.Schedule(ctx, full.ID)
		if !got.ScheduleLayers[0].EndsOn.IsZero() {
			t.Errorf("a refused update changed the layer's end to %s", got.ScheduleLayers[0].EndsOn)
		}
	})
}

func TestUpdateSchedule(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann, bob, cat := mustAccount(t, db, "Ann"), mustAccount(t, db, "Bob"), mustAccount(t, db, "Cat")
		s := mustSchedule(t, db, weekly("ops", ann.ID, bob.ID))
		o := schedule.Override{User: auth.Ref{ID: cat.ID}, Start: berlin(t, "2024-05-01 00:00"), End: berlin(t, "2024-05-02 00:00")}
		if _, err := db.AddOverride(ctx, s.ID, &o); err != nil {
			t.Fatal(err)
		}

		upd := weekly("ops renamed", cat.ID)
		upd.ID = s.ID
		upd.Timezone = "America/New_York"
		if err := db.UpdateSchedule(ctx, upd, false); err != nil {
			t.Fatal(err)
		}
		got, err := db.Schedule(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "ops renamed" || got.Timezone != "America/New_York" || len(got.ScheduleLayers) != 1 ||
			len(got.ScheduleLayers[0].Users) != 1 || got.ScheduleLayers[0].Users[0].ID != cat.ID {
			t.Errorf("after update: %s", asJSON(t, got))
		}
		overrides, err := db.Overrides(ctx, s.ID, time.Time{}, time.Time{})
		if err != nil || len(overrides) != 1 {
			t.Errorf("the override did not survive the update: %v, %v", overrides, err)
		}

		bad := weekly("x", 4242)
		bad.ID = s.ID
		wantCode(t, db.UpdateSchedule(ctx, bad, false), fault.Invalid)
		if got, _ := db.Schedule(ctx, s.ID); got.Name != "ops renamed" {
			t.Errorf("a refused update was partly written: %s", got.Name)
		}
		missing := weekly("y", ann.ID)
		missing.ID = s.ID + 100
		wantCode(t, db.UpdateSchedule(ctx, missing, false), fault.NotFound)
	})
}

func TestSchedulesPage(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		for i := range 5 {
			mustSchedule(t, db, weekly(fmt.Sprintf("s%d", i), ann.ID))
		}
		page, err := db.Schedules(ctx, store.Page{Start: 1, Max: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 2 || page[0].Name != "s1" || page[1].Name != "s2" || len(page[1].ScheduleLayers) != 1 {
			t.Fatalf("page = %s", asJSON(t, page))
		}
	})
}

func TestOverridesAndOnCallUsers(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann, bob, cat := mustAccount(t, db, "Ann"), mustAccount(t, db, "Bob"), mustAccount(t, db, "Cat")
		s := mustSchedule(t, db, weekly("ops", ann.ID, bob.ID))
		gappy := weekly("business hours", cat.ID)
		gappy.ScheduleLayers[0].Restrictions = []schedule.Restriction{{From: schedule.TimeOfWeek{DayOfWeek: "MONDAY", Time: "09:00"}, To: schedule.TimeOfWeek{DayOfWeek: "MONDAY", Time: "17:00"}}}
		g := mustSchedule(t, db, gappy)

		at := berlin(t, "2024-01-10 12:00") // Wednesday of the second week: bob's
		on, err := db.OnCallUsers(ctx, []int64{s.ID, g.ID, 4242}, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(on) != 1 || on[s.ID] != bob.ID {
			t.Fatalf("OnCallUsers = %v, want only schedule %d → bob (%d)", on, s.ID, bob.ID)
		}

		o := schedule.Override{User: auth.Ref{ID: cat.ID}, Start: berlin(t, "2024-01-10 11:00"), End: berlin(t, "2024-01-10 13:00")}
		ref, err := db.AddOverride(ctx, s.ID, &o)
		if err != nil {
			t.Fatal(err)
		}
		if o.ID == 0 || o.User.FirstName != "Cat" || ref != (escalation.ScheduleRef{ID: s.ID, Name: "ops", Type: "RECURRING"}) {
			t.Errorf("AddOverride = %+v, %+v", ref, o)
		}
		if on, _ := db.OnCallUsers(ctx, []int64{s.ID}, at); on[s.ID] != cat.ID {
			t.Errorf("during the override OnCallUsers = %v, want cat", on)
		}
		if on, _ := db.OnCallUsers(ctx, []int64{s.ID}, o.End); on[s.ID] != bob.ID {
			t.Errorf("when the override ends OnCallUsers = %v, want bob again", on)
		}

		list, err := db.Overrides(ctx, s.ID, berlin(t, "2024-01-10 13:00"), time.Time{})
		if err != nil || len(list) != 0 {
			t.Errorf("overrides ending at or before from: %v, %v", list, err)
		}
		list, err = db.Overrides(ctx, s.ID, berlin(t, "2024-01-10 12:59"), time.Time{})
		if err != nil || len(list) != 1 || list[0].ID != o.ID || !list[0].Start.Equal(o.Start) {
			t.Errorf("Overrides = %v, %v", list, err)
		}
		_, err = db.Overrides(ctx, 4242, time.Time{}, time.Time{})
		wantCode(t, err, fault.NotFound)

		bad := schedule.Override{User: auth.Ref{ID: 4242}, Start: at, End: at.Add(time.Hour)}
		_, err = db.AddOverride(ctx, s.ID, &bad)
		wantCode(t, err, fault.Invalid)
		bad = schedule.Override{User: auth.Ref{ID: ann.ID}, Start: at, End: at}
		_, err = db.AddOverride(ctx, s.ID, &bad)
		wantCode(t, err, fault.Invalid)
		_, err = db.AddOverride(ctx, 4242, &schedule.Override{User: auth.Ref{ID: ann.ID}, Start: at, End: at.Add(time.Hour)})
		wantCode(t, err, fault.NotFound)

		wantCode(t, db.DeleteOverride(ctx, g.ID, o.ID), fault.NotFound) // another schedule's override
		if err := db.DeleteOverride(ctx, s.ID, o.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, db.DeleteOverride(ctx, s.ID, o.ID), fault.NotFound)
		if on, _ := db.OnCallUsers(ctx, []int64{s.ID}, at); on[s.ID] != bob.ID {
			t.Errorf("after deleting the override OnCallUsers = %v, want bob", on)
		}
	})
}

func TestDeleteSchedule(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		s := mustSchedule(t, db, weekly("ops", ann.ID))
		p := escalation.Policy{Name: "p", EscalationRules: []escalation.Rule{{EscalationTimeout: 5, Schedules: []escalation.ScheduleRef{{ID: s.ID}}}}}
		if err := db.CreatePolicy(ctx, &p); err != nil {
			t.Fatal(err)
		}
		err := db.DeleteSchedule(ctx, s.ID)
		if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), `policy "p"`) {
			t.Fatalf("deleting a schedule a level names: %v", err)
		}
		if _, err := db.Schedule(ctx, s.ID); err != nil {
			t.Fatalf("the schedule is gone: %v", err)
		}
		if err := db.DeletePolicy(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		o := schedule.Override{User: auth.Ref{ID: ann.ID}, Start: berlin(t, "2024-01-10 11:00"), End: berlin(t, "2024-01-10 13:00")}
		if _, err := db.AddOverride(ctx, s.ID, &o); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteSchedule(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.Schedule(ctx, s.ID)
		wantCode(t, err, fault.NotFound)
		wantCode(t, db.DeleteSchedule(ctx, s.ID), fault.NotFound)
		if ids, _ := db.ScheduleIDsOfUser(ctx, ann.ID, time.Time{}); len(ids) != 0 {
			t.Errorf("the deleted schedule's parts remain: %v", ids)
		}
	})
}

// TestUserInScheduleNotDeleted checks that deleting a user a schedule names fails and leaves
// both in place, and that ScheduleIDsOfUser finds every way a user takes part.
func TestUserInScheduleNotDeleted(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann, bob, cat := mustAccount(t, db, "Ann"), mustAccount(t, db, "Bob"), mustAccount(t, db, "Cat")
		s := mustSchedule(t, db, weekly("layer", ann.ID))
		static := mustSchedule(t, db, &schedule.Schedule{Name: "static", Timezone: "UTC", Type: schedule.Static, Shifts: []schedule.StaticShift{
			{User: auth.Ref{ID: bob.ID}, Start: schedule.MustWall("2024-01-01T00:00"), End: schedule.MustWall("2024-01-02T00:00")}}})
		o := schedule.Override{User: auth.Ref{ID: cat.ID}, Start: berlin(t, "2024-01-10 11:00"), End: berlin(t, "2024-01-10 13:00")}
		if _, err := db.AddOverride(ctx, s.ID, &o); err != nil {
			t.Fatal(err)
		}
		if ids, _ := db.ScheduleIDsOfUser(ctx, bob.ID, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)); len(ids) != 0 {
			t.Errorf("bob's ended shift still counts after it ended: %v", ids)
		}
		// Ann is in a layer: she stays. Bob's shift and Cat's override have ended (the store's
		// clock is today): they can go, and their ended parts go with them.
		for _, c := range []struct {
			user      auth.Account
			want      []int64
			deletable bool
		}{{ann, []int64{s.ID}, false}, {bob, []int64{static.ID}, true}, {cat, []int64{s.ID}, true}} {
			ids, err := db.ScheduleIDsOfUser(ctx, c.user.ID, time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil || fmt.Sprint(ids) != fmt.Sprint(c.want) {
				t.Errorf("ScheduleIDsOfUser(%s) = %v, %v; want %v", c.user.FirstName, ids, err, c.want)
			}
			err = db.DeleteAccount(ctx, c.user.ID)
			if c.deletable != (err == nil) {
				t.Errorf("deleting %s: %v, want deletable=%v", c.user.FirstName, err, c.deletable)
			}
			if !c.deletable {
				wantCode(t, err, fault.Invalid)
				if _, err := db.Account(ctx, c.user.ID); err != nil {
					t.Errorf("%s: %v", c.user.FirstName, err)
				}
			}
		}
		if got, err := db.Schedule(ctx, s.ID); err != nil || len(got.ScheduleLayers[0].Users) != 1 {
			t.Errorf("the schedule changed: %v", err)
		}
	})
}

// TestScheduleAndUserDeletionRace runs a schedule write and the deletion of the user it names
// at once: one of them must fail, and never may a schedule name a deleted user.
func TestScheduleAndUserDeletionRace(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i := range 10 {
			u := mustAccount(t, db, fmt.Sprintf("Racer%d", i))
			var wg sync.WaitGroup
			var createErr, deleteErr error
			s := weekly(fmt.Sprintf("race %d", i), u.ID)
			wg.Add(2)
			go func() { defer wg.Done(); createErr = db.CreateSchedule(ctx, s, false) }()
			go func() { defer wg.Done(); deleteErr = db.DeleteAccount(ctx, u.ID) }()
			wg.Wait()
			if createErr == nil && deleteErr == nil {
				t.Fatalf("round %d: the schedule was saved naming user %d and the user was deleted", i, u.ID)
			}
			if createErr != nil && deleteErr != nil {
				t.Fatalf("round %d: both failed: %v; %v", i, createErr, deleteErr)
			}
			if createErr == nil {
				if _, err := db.Schedule(ctx, s.ID); err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
			}
		}
	})
}

func TestICalTokens(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		s := mustSchedule(t, db, weekly("ops", ann.ID))
		other := mustSchedule(t, db, weekly("other", ann.ID))
		token, err := db.ScheduleICalToken(ctx, s.ID)
		if err != nil || len(token) < 43 { // 256 bits in base64
			t.Fatalf("token %q, %v", token, err)
		}
		if ot, _ := db.ScheduleICalToken(ctx, other.ID); ot == token {
			t.Fatal("two schedules share a token")
		}
		if err := db.CheckScheduleICalToken(ctx, s.ID, token); err != nil {
			t.Errorf("the right token: %v", err)
		}
		for _, bad := range []string{"", token[:len(token)-1], strings.ToUpper(token)} {
			wantCode(t, db.CheckScheduleICalToken(ctx, s.ID, bad), fault.NotFound)
		}
		wantCode(t, db.CheckScheduleICalToken(ctx, other.ID, token), fault.NotFound)
		wantCode(t, db.CheckScheduleICalToken(ctx, 4242, token), fault.NotFound)
		rotated, err := db.RotateScheduleICalToken(ctx, s.ID)
		if err != nil || rotated == token {
			t.Fatalf("rotate: %q, %v", rotated, err)
		}
		wantCode(t, db.CheckScheduleICalToken(ctx, s.ID, token), fault.NotFound)
		if err := db.CheckScheduleICalToken(ctx, s.ID, rotated); err != nil {
			t.Errorf("the rotated token: %v", err)
		}

		wantCode(t, db.CheckUserICalToken(ctx, ann.ID, ""), fault.NotFound) // no feed yet
		ut, err := db.UserICalToken(ctx, ann.ID)
		if err != nil || len(ut) < 43 {
			t.Fatalf("user token %q, %v", ut, err)
		}
		if again, _ := db.UserICalToken(ctx, ann.ID); again != ut {
			t.Error("the user's token changed on a second read")
		}
		if err := db.CheckUserICalToken(ctx, ann.ID, ut); err != nil {
			t.Error(err)
		}
		rut, err := db.RotateUserICalToken(ctx, ann.ID)
		if err != nil || rut == ut {
			t.Fatalf("rotate user token: %q, %v", rut, err)
		}
		wantCode(t, db.CheckUserICalToken(ctx, ann.ID, ut), fault.NotFound)
		_, err = db.UserICalToken(ctx, 4242)
		wantCode(t, err, fault.Invalid)
	})
}
