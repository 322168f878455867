package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// coverageSetup is a weekly Berlin schedule of Ann (weeks from 01-01, 01-15, …) and Bob
// (01-08, 01-22, …), Cat and Dan who are not in it, and the clock at Monday 2024-01-08
// 10:00, an hour into Bob's week.
type coverageSetup struct {
	db                 *store.DB
	ann, bob, cat, dan auth.Account
	sched              *schedule.Schedule
	now                time.Time
}

func newCoverageSetup(t *testing.T, db *store.DB) *coverageSetup {
	t.Helper()
	s := &coverageSetup{db: db, ann: mustAccount(t, db, "Ann"), bob: mustAccount(t, db, "Bob"),
		cat: mustAccount(t, db, "Cat"), dan: mustAccount(t, db, "Dan")}
	s.sched = mustSchedule(t, db, weekly("ops", s.ann.ID, s.bob.ID))
	s.now = berlin(t, "2024-01-08 10:00")
	db.Now = func() time.Time { return s.now }
	return s
}

// ask makes a request of to by from, for from–until on Berlin's clock.
func (s *coverageSetup) ask(t *testing.T, from, to auth.Account, start, end string) (*schedule.CoverageRequest, error) {
	t.Helper()
	c := &schedule.CoverageRequest{Schedule: schedule.ScheduleName{ID: s.sched.ID}, Requester: auth.Ref{ID: from.ID},
		User: auth.Ref{ID: to.ID}, Start: berlin(t, start), End: berlin(t, end), Message: "dentist"}
	err := s.db.CreateCoverageRequest(context.Background(), c)
	return c, err
}

func (s *coverageSetup) mustAsk(t *testing.T, from, to auth.Account, start, end string) *schedule.CoverageRequest {
	t.Helper()
	c, err := s.ask(t, from, to, start, end)
	if err != nil {
		t.Fatalf("%s asks %s for %s–%s: %v", from.FirstName, to.FirstName, start, end, err)
	}
	return c
}

// onCall returns the first name of who is on call at when on Berlin's clock.
func (s *coverageSetup) onCall(t *testing.T, when string) string {
	t.Helper()
	on, err := s.db.OnCallUsers(context.Background(), []int64{s.sched.ID}, berlin(t, when))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []auth.Account{s.ann, s.bob, s.cat, s.dan} {
		if a.ID == on[s.sched.ID] {
			return a.FirstName
		}
	}
	return "nobody"
}

func anyone(*schedule.CoverageRequest) error { return nil }

func TestCoverageAccepted(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newCoverageSetup(t, db)

		t.Run("Partly", func(t *testing.T) {
			c := s.mustAsk(t, s.bob, s.cat, "2024-01-10 12:00", "2024-01-10 14:00")
			if c.ID == 0 || c.Status != schedule.CoveragePending || c.Requester.FirstName != "Bob" || c.User.FirstName != "Cat" ||
				c.Schedule.Name != "ops" || c.Message != "dentist" || !c.CreatedAt.Equal(s.now) || c.DecidedAt != nil || c.OverrideID != 0 {
				t.Fatalf("created: %+v", c)
			}
			got, err := db.AcceptCoverageRequest(ctx, c.ID, anyone)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != schedule.CoverageAccepted || got.OverrideID == 0 || got.DecidedAt == nil || !got.DecidedAt.Equal(s.now) {
				t.Fatalf("accepted: %+v", got)
			}
			for when, want := range map[string]string{"2024-01-10 11:59": "Bob", "2024-01-10 12:00": "Cat", "2024-01-10 13:59": "Cat", "2024-01-10 14:00": "Bob"} {
				if got := s.onCall(t, when); got != want {
					t.Errorf("at %s %s is on call, want %s", when, got, want)
				}
			}
			overrides, err := db.Overrides(ctx, s.sched.ID, berlin(t, "2024-01-10 00:00"), berlin(t, "2024-01-11 00:00"))
			if err != nil || len(overrides) != 1 || overrides[0].ID != got.OverrideID || overrides[0].User.ID != s.cat.ID ||
				!overrides[0].Start.Equal(c.Start) || !overrides[0].End.Equal(c.End) {
				t.Fatalf("overrides = %+v, %v", overrides, err)
			}
		})

		t.Run("AWholeShift", func(t *testing.T) {
			c := s.mustAsk(t, s.ann, s.dan, "2024-01-15 09:00", "2024-01-22 09:00")
			if _, err := db.AcceptCoverageRequest(ctx, c.ID, anyone); err != nil {
				t.Fatal(err)
			}
			for when, want := range map[string]string{"2024-01-15 08:59": "Bob", "2024-01-15 09:00": "Dan", "2024-01-22 08:59": "Dan", "2024-01-22 09:00": "Bob"} {
				if got := s.onCall(t, when); got != want {
					t.Errorf("at %s %s is on call, want %s", when, got, want)
				}
			}
		})

		t.Run("CoverOfCover", func(t *testing.T) {
			// Dan now holds Ann's week by override, so Dan may pass part of it on, and Ann may not.
			_, err := s.ask(t, s.ann, s.cat, "2024-01-16 09:00", "2024-01-16 10:00")
			wantCode(t, err, fault.Invalid)
			s.mustAsk(t, s.dan, s.cat, "2024-01-16 09:00", "2024-01-16 10:00")
		})
	})
}

func TestCoverageRequestRejected(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		s := newCoverageSetup(t, db)
		guest := auth.Account{FirstName: "Stan", LastName: "Holder", Email: "stan@example.com", Role: auth.Stakeholder}
		if err := db.CreateAccount(context.Background(), &guest, ""); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name       string
			from, to   auth.Account
			start, end string
			code       fault.Code
			msg        string
		}{
			{"ErrNotTheirShift", s.ann, s.cat, "2024-01-10 12:00", "2024-01-10 14:00", fault.Invalid, "they are not on call at any time in it"},
			{"ErrIntoTheNextShift", s.bob, s.cat, "2024-01-15 08:00", "2024-01-15 10:00", fault.Invalid, "they are on call only from 2024-01-15T08:00 to 2024-01-15T09:00"},
			{"ErrStarted", s.bob, s.cat, "2024-01-08 09:30", "2024-01-08 11:00", fault.Invalid, "has passed"},
			{"ErrSelf", s.bob, s.bob, "2024-01-10 12:00", "2024-01-10 14:00", fault.Invalid, "yourself"},
			{"ErrUnknownColleague", s.bob, auth.Account{ID: 4242}, "2024-01-10 12:00", "2024-01-10 14:00", fault.Invalid, "does not exist"},
			{"ErrColleagueCannotRespond", s.bob, guest, "2024-01-10 12:00", "2024-01-10 14:00", fault.Invalid, "STAKEHOLDER"},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := s.ask(t, c.from, c.to, c.start, c.end)
				wantCode(t, err, c.code)
				if !strings.Contains(fault.MessageOf(err), c.msg) {
					t.Errorf("message %q does not say %q", fault.MessageOf(err), c.msg)
				}
			})
		}
		t.Run("ErrNoSchedule", func(t *testing.T) {
			c := &schedule.CoverageRequest{Schedule: schedule.ScheduleName{ID: 4242}, Requester: auth.Ref{ID: s.bob.ID},
				User: auth.Ref{ID: s.cat.ID}, Start: berlin(t, "2024-01-10 12:00"), End: berlin(t, "2024-01-10 14:00")}
			wantCode(t, db.CreateCoverageRequest(context.Background(), c), fault.NotFound)
		})
		list, err := db.CoverageRequests(context.Background(), store.CoverageFilter{Page: store.Page{Max: 100}})
		if err != nil || len(list) != 0 {
			t.Fatalf("refused requests were stored: %v, %v", list, err)
		}
	})
}

func TestCoverageOnlyFromPending(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newCoverageSetup(t, db)

		declined := s.mustAsk(t, s.bob, s.cat, "2024-01-10 12:00", "2024-01-10 14:00")
		got, err := db.DeclineCoverageRequest(ctx, declined.ID, anyone)
		if err != nil || got.Status != schedule.CoverageDeclined || got.OverrideID != 0 || got.DecidedAt == nil {
			t.Fatalf("declined: %+v, %v", got, err)
		}
		if who := s.onCall(t, "2024-01-10 13:00"); who != "Bob" {
			t.Errorf("after a decline %s is on call, want Bob", who)
		}
		if o, _ := db.Overrides(ctx, s.sched.ID, time.Time{}, time.Time{}); len(o) != 0 {
			t.Errorf("a decline left overrides: %+v", o)
		}
		_, err = db.AcceptCoverageRequest(ctx, declined.ID, anyone)
		wantCode(t, err, fault.Invalid)
		if !strings.Contains(fault.MessageOf(err), "is DECLINED, not PENDING") {
			t.Errorf("accept after decline: %v", err)
		}

		cancelled := s.mustAsk(t, s.bob, s.cat, "2024-01-10 12:00", "2024-01-10 14:00")
		if got, err := db.CancelCoverageRequest(ctx, cancelled.ID, s.bob.ID, anyone); err != nil || got.Status != schedule.CoverageCancelled {
			t.Fatalf("cancelled: %+v, %v", got, err)
		}
		_, err = db.AcceptCoverageRequest(ctx, cancelled.ID, anyone)
		wantCode(t, err, fault.Invalid)
		_, err = db.CancelCoverageRequest(ctx, cancelled.ID, s.bob.ID, anyone)
		wantCode(t, err, fault.Invalid)
		if who := s.onCall(t, "2024-01-10 13:00"); who != "Bob" {
			t.Errorf("accepting a cancelled request put %s on call", who)
		}

		accepted := s.mustAsk(t, s.bob, s.cat, "2024-01-11 12:00", "2024-01-11 14:00")
		if _, err := db.AcceptCoverageRequest(ctx, accepted.ID, anyone); err != nil {
			t.Fatal(err)
		}
		_, err = db.AcceptCoverageRequest(ctx, accepted.ID, anyone)
		wantCode(t, err, fault.Invalid)
		_, err = db.CancelCoverageRequest(ctx, accepted.ID, s.bob.ID, anyone)
		wantCode(t, err, fault.Invalid)
		if o, _ := db.Overrides(ctx, s.sched.ID, time.Time{}, time.Time{}); len(o) != 1 {
			t.Errorf("a second accept added an override: %+v", o)
		}

		t.Run("ErrRefusedByMay", func(t *testing.T) {
			c := s.mustAsk(t, s.bob, s.cat, "2024-01-12 12:00", "2024-01-12 14:00")
			no := func(*schedule.CoverageRequest) error { return fault.New(fault.Forbidden, "not you") }
			_, err := db.AcceptCoverageRequest(ctx, c.ID, no)
			wantCode(t, err, fault.Forbidden)
			if got, _ := db.CoverageRequest(ctx, c.ID); got.Status != schedule.CoveragePending {
				t.Errorf("after a refused accept: %s", got.Status)
			}
			if who := s.onCall(t, "2024-01-12 13:00"); who != "Bob" {
				t.Errorf("a refused accept put %s on call", who)
			}
		})

		_, err = db.AcceptCoverageRequest(ctx, 4242, anyone)
		wantCode(t, err, fault.NotFound)
		_, err = db.CoverageRequest(ctx, 4242)
		wantCode(t, err, fault.NotFound)
	})
}

func TestCoverageExpires(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newCoverageSetup(t, db)
		c := s.mustAsk(t, s.bob, s.cat, "2024-01-10 12:00", "2024-01-10 14:00")
		later := s.mustAsk(t, s.bob, s.cat, "2024-01-11 12:00", "2024-01-11 14:00")

		s.now = berlin(t, "2024-01-10 12:00")
		got, err := db.CoverageRequest(ctx, c.ID)
		if err != nil || got.Status != schedule.CoverageExpired {
			t.Fatalf("at its start: %+v, %v", got, err)
		}
		for name, act := range map[string]func() error{
			"accept":  func() error { _, err := db.AcceptCoverageRequest(ctx, c.ID, anyone); return err },
			"decline": func() error { _, err := db.DeclineCoverageRequest(ctx, c.ID, anyone); return err },
			"cancel":  func() error { _, err := db.CancelCoverageRequest(ctx, c.ID, s.bob.ID, anyone); return err },
		} {
			err := act()
			wantCode(t, err, fault.Invalid)
			if !strings.Contains(fault.MessageOf(err), "expired") {
				t.Errorf("%s: %v", name, err)
			}
		}
		if who := s.onCall(t, "2024-01-10 13:00"); who != "Bob" {
			t.Errorf("an expired request put %s on call", who)
		}

		for status, want := range map[schedule.CoverageStatus][]int64{
			schedule.CoveragePending: {later.ID},
			schedule.CoverageExpired: {c.ID},
			"":                       {later.ID, c.ID},
		} {
			list, err := db.CoverageRequests(ctx, store.CoverageFilter{Status: status, Page: store.Page{Max: 10}})
			if err != nil {
				t.Fatal(err)
			}
			if got := coverageIDs(list); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("status %q: %v, want %v", status, got, want)
			}
			for _, r := range list {
				if r.ID == c.ID && r.Status != schedule.CoverageExpired {
					t.Errorf("listed as %s, want EXPIRED", r.Status)
				}
			}
		}
	})
}

func TestCoverageStaleAccept(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newCoverageSetup(t, db)
		// Bob asks two colleagues for the same afternoon; the first to accept gets it.
		toCat := s.mustAsk(t, s.bob, s.cat, "2024-01-10 12:00", "2024-01-10 14:00")
		toDan := s.mustAsk(t, s.bob, s.dan, "2024-01-10 13:00", "2024-01-10 15:00")
		if _, err := db.AcceptCoverageRequest(ctx, toCat.ID, anyone); err != nil {
			t.Fatal(err)
		}
		_, err := db.AcceptCoverageRequest(ctx, toDan.ID, anyone)
		wantCode(t, err, fault.Invalid)
		if !strings.Contains(fault.MessageOf(err), "schedule changed") {
			t.Errorf("stale accept: %v", err)
		}
		if got, _ := db.CoverageRequest(ctx, toDan.ID); got.Status != schedule.CoveragePending {
			t.Errorf("a stale accept left the request %s, want PENDING", got.Status)
		}
		if who := s.onCall(t, "2024-01-10 14:30"); who != "Bob" {
			t.Errorf("at 14:30 %s is on call, want Bob", who)
		}
		if got, err := db.DeclineCoverageRequest(ctx, toDan.ID, anyone); err != nil || got.Status != schedule.CoverageDeclined {
			t.Errorf("declining the stale request: %+v, %v", got, err)
		}
	})
}

func TestCoverageAcceptCancelRace(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newCoverageSetup(t, db)
		accepted := 0
		for i := range 12 {
			start := berlin(t, "2024-01-09 00:00").Add(time.Duration(i) * time.Hour)
			c := s.mustAsk(t, s.bob, s.cat, start.Format("2006-01-02 15:04"), start.Add(30*time.Minute).Format("2006-01-02 15:04"))
			var wg sync.WaitGroup
			var acceptErr, cancelErr error
			wg.Add(2)
			go func() { defer wg.Done(); _, acceptErr = db.AcceptCoverageRequest(ctx, c.ID, anyone) }()
			go func() { defer wg.Done(); _, cancelErr = db.CancelCoverageRequest(ctx, c.ID, s.bob.ID, anyone) }()
			wg.Wait()
			if (acceptErr == nil) == (cancelErr == nil) {
				t.Fatalf("round %d: accept: %v; cancel: %v; want exactly one to succeed", i, acceptErr, cancelErr)
			}
			for _, err := range []error{acceptErr, cancelErr} {
				if err != nil && !fault.Is(err, fault.Invalid) {
					t.Fatalf("round %d: the loser failed with %v, want Invalid", i, err)
				}
			}
			got, err := db.CoverageRequest(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			overrides, err := db.Overrides(ctx, s.sched.ID, c.Start, c.End)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case acceptErr == nil && (got.Status != schedule.CoverageAccepted || len(overrides) != 1 || overrides[0].ID != got.OverrideID):
				t.Fatalf("round %d: accept won but the request is %+v with overrides %+v", i, got, overrides)
			case cancelErr == nil && (got.Status != schedule.CoverageCancelled || len(overrides) != 0):
				t.Fatalf("round %d: cancel won but the request is %+v with overrides %+v", i, got, overrides)
			}
			if acceptErr == nil {
				accepted++
			}
		}
		t.Logf("accept won %d of 12 rounds", accepted)
	})
}

func TestCoverageLists(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newCoverageSetup(t, db)
		other := mustSchedule(t, db, weekly("db", s.cat.ID))
		a := s.mustAsk(t, s.bob, s.cat, "2024-01-10 12:00", "2024-01-10 14:00")
		b := s.mustAsk(t, s.ann, s.bob, "2024-01-15 12:00", "2024-01-15 14:00")
		c := &schedule.CoverageRequest{Schedule: schedule.ScheduleName{ID: other.ID}, Requester: auth.Ref{ID: s.cat.ID},
			User: auth.Ref{ID: s.dan.ID}, Start: berlin(t, "2024-01-10 12:00"), End: berlin(t, "2024-01-10 14:00")}
		if err := db.CreateCoverageRequest(ctx, c); err != nil {
			t.Fatal(err)
		}
		for name, tc := range map[string]struct {
			f    store.CoverageFilter
			want []int64
		}{
			"All":              {store.CoverageFilter{}, []int64{c.ID, b.ID, a.ID}},
			"Schedule":         {store.CoverageFilter{ScheduleID: s.sched.ID}, []int64{b.ID, a.ID}},
			"OutgoingOfBob":    {store.CoverageFilter{RequesterID: s.bob.ID}, []int64{a.ID}},
			"IncomingOfBob":    {store.CoverageFilter{UserID: s.bob.ID}, []int64{b.ID}},
			"InvolvingBob":     {store.CoverageFilter{Involving: s.bob.ID}, []int64{b.ID, a.ID}},
			"InvolvingCat":     {store.CoverageFilter{Involving: s.cat.ID}, []int64{c.ID, a.ID}},
			"SecondPage":       {store.CoverageFilter{Page: store.Page{Start: 1, Max: 1}}, []int64{b.ID}},
			"AcceptedNone":     {store.CoverageFilter{Status: schedule.CoverageAccepted}, []int64{}},
			"ScheduleAndOther": {store.CoverageFilter{ScheduleID: other.ID, Involving: s.bob.ID}, []int64{}},
		} {
			t.Run(name, func(t *testing.T) {
				if tc.f.Page.Max == 0 {
					tc.f.Page.Max = 100
				}
				list, err := db.CoverageRequests(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := coverageIDs(list); fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
	})
}

func TestCoverageOverrideAndScheduleDeleted(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newCoverageSetup(t, db)
		c := s.mustAsk(t, s.bob, s.cat, "2024-01-10 12:00", "2024-01-10 14:00")
		got, err := db.AcceptCoverageRequest(ctx, c.ID, anyone)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteOverride(ctx, s.sched.ID, got.OverrideID); err != nil {
			t.Fatal(err)
		}
		got, err = db.CoverageRequest(ctx, c.ID)
		if err != nil || got.Status != schedule.CoverageAccepted || got.OverrideID != 0 {
			t.Errorf("after its override was deleted: %+v, %v", got, err)
		}
		pending := s.mustAsk(t, s.bob, s.dan, "2024-01-11 12:00", "2024-01-11 14:00")
		if err := db.DeleteAccount(ctx, s.dan.ID); err != nil {
			t.Fatalf("deleting a user asked to cover: %v", err)
		}
		_, err = db.CoverageRequest(ctx, pending.ID)
		wantCode(t, err, fault.NotFound)
		if err := db.DeleteSchedule(ctx, s.sched.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.CoverageRequest(ctx, c.ID)
		wantCode(t, err, fault.NotFound)
	})
}

func coverageIDs(list []*schedule.CoverageRequest) []int64 {
	ids := []int64{}
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestCoverageNotices(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newCoverageSetup(t, db)
		admin := auth.Account{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com", Role: auth.Admin, Timezone: "America/New_York"}
		if err := db.CreateAccount(ctx, &admin, ""); err != nil {
			t.Fatal(err)
		}
		// sent returns the notices queued since the last call, as "to: subject", and their bodies.
		sent := func() ([]string, []string) {
			t.Helper()
			out, err := db.ClaimNotifications(ctx, s.now, s.now.Add(time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			var got, bodies []string
			for _, o := range out {
				if o.Purpose != store.PurposeCoverage || o.Method != "EMAIL" || o.AlertID != 0 {
					t.Errorf("notice %+v", o)
				}
				got = append(got, o.Target+": "+o.Subject)
				bodies = append(bodies, o.Body)
			}
			slices.Sort(got)
			return got, bodies
		}
		want := func(what string, got []string, want ...string) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: notices %q, want %q", what, got, want)
			}
		}

		c := s.mustAsk(t, s.bob, s.cat, "2024-01-10 12:00", "2024-01-10 14:00")
		got, bodies := sent()
		want("asked", got, "Cat@example.com: Bob Tester asks you to cover their on-call shift in ops")
		if len(bodies) == 1 && (!strings.Contains(bodies[0], `schedule "ops" from Wed 10 Jan 2024 12:00 CET to Wed 10 Jan 2024 14:00 CET`) ||
			!strings.Contains(bodies[0], "dentist") || !strings.Contains(bodies[0], fmt.Sprintf("/api/coverage-requests/%d/accept", c.ID))) {
			t.Errorf("asked: body %q", bodies[0])
		}
		if _, err := db.AcceptCoverageRequest(ctx, c.ID, func(*schedule.CoverageRequest) error { return fault.New(fault.Forbidden, "no") }); err == nil {
			t.Fatal("a refused accept succeeded")
		}
		got, _ = sent()
		want("a refused accept", got)
		if _, err := db.AcceptCoverageRequest(ctx, c.ID, anyone); err != nil {
			t.Fatal(err)
		}
		got, _ = sent()
		want("accepted", got, "Bob@example.com: Cat Tester covers your on-call shift in ops")

		d := s.mustAsk(t, s.bob, s.dan, "2024-01-11 12:00", "2024-01-11 14:00")
		sent()
		if _, err := db.DeclineCoverageRequest(ctx, d.ID, anyone); err != nil {
			t.Fatal(err)
		}
		got, _ = sent()
		want("declined", got, "Bob@example.com: Dan Tester cannot cover your on-call shift in ops")

		e := s.mustAsk(t, s.bob, s.dan, "2024-01-12 12:00", "2024-01-12 14:00")
		sent()
		if _, err := db.CancelCoverageRequest(ctx, e.ID, s.bob.ID, anyone); err != nil {
			t.Fatal(err)
		}
		got, _ = sent()
		want("cancelled by the requester", got, "Dan@example.com: Bob Tester no longer needs you to cover in ops")

		// Asked by Bob of Ada, who reads times on New York's clock; cancelled by Ada as ADMIN is
		// odd but allowed, and both hear of it.
		f := s.mustAsk(t, s.bob, admin, "2024-01-12 15:00", "2024-01-12 16:00")
		_, bodies = sent()
		if len(bodies) != 1 || !strings.Contains(bodies[0], "from Fri 12 Jan 2024 09:00 EST to Fri 12 Jan 2024 10:00 EST") {
			t.Errorf("on the recipient's clock: %q", bodies)
		}
		if _, err := db.CancelCoverageRequest(ctx, f.ID, admin.ID, anyone); err != nil {
			t.Fatal(err)
		}
		got, _ = sent()
		want("cancelled by an ADMIN", got, "Bob@example.com: Your request for cover in ops was cancelled",
			"ada@example.com: Bob Tester no longer needs you to cover in ops")

		if _, err := s.ask(t, s.ann, s.cat, "2024-01-10 12:00", "2024-01-10 14:00"); err == nil {
			t.Fatal("Ann asked for Bob's time")
		}
		got, _ = sent()
		want("a refused request", got)
	})
}
