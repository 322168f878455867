package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/schedule"
)

func TestCheckCover(t *testing.T) {
	const zone = "Europe/Berlin"
	at := func(s string) time.Time { return local(t, zone, s) }
	// Ann and Bob take daily turns at 09:00 from Monday 2024-03-04, Ann first, but only on
	// weekdays 08:00–18:00; Cat covers Ann on Wednesday 12:00–14:00 by override.
	s := &schedule.Schedule{Name: "s", Timezone: zone, Type: schedule.Recurring, ScheduleLayers: []schedule.Layer{{
		StartsOn: schedule.MustWall("2024-03-04T09:00"), Users: []auth.Ref{ann, bob}, Rotation: "P1D",
		Restrictions: businessHours("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"),
	}}}
	p, err := schedule.Compile(s, []schedule.Override{{User: cat, Start: at("2024-03-06 12:00"), End: at("2024-03-06 14:00")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		who        auth.Ref
		start, end string
		wantErr    string // part of the message; "" for none
	}{
		{"WholeShift", ann, "2024-03-04 09:00", "2024-03-04 18:00", ""},
		{"PartOfShift", ann, "2024-03-04 13:00", "2024-03-04 15:00", ""},
		{"AcrossHandoffToSelf", bob, "2024-03-05 08:00", "2024-03-05 10:00", "on call only from 2024-03-05T09:00 to 2024-03-05T10:00"}, // 08:00–09:00 is Ann's turn
		{"IntoTheNight", ann, "2024-03-04 17:00", "2024-03-04 19:00", "are on call only from 2024-03-04T17:00 to 2024-03-04T18:00"},
		{"SomeoneElses", bob, "2024-03-04 10:00", "2024-03-04 11:00", "not on call at any time in it"},
		{"AroundAnOverride", ann, "2024-03-06 11:00", "2024-03-06 15:00", "from 2024-03-06T11:00 to 2024-03-06T12:00, from 2024-03-06T14:00 to 2024-03-06T15:00"},
		{"OverridesCount", cat, "2024-03-06 12:30", "2024-03-06 14:00", ""},
		{"Weekend", bob, "2024-03-09 10:00", "2024-03-09 11:00", "not on call at any time in it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := p.CheckCover(c.who, at(c.start), at(c.end))
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("CheckCover = %v, want nil", err)
			case c.wantErr != "" && (!fault.Is(err, fault.Invalid) || !strings.Contains(fault.MessageOf(err), c.wantErr)):
				t.Fatalf("CheckCover = %v, want Invalid containing %q", err, c.wantErr)
			}
		})
	}
}

func TestCoverageRequestValidate(t *testing.T) {
	now := time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC)
	ok := schedule.CoverageRequest{Requester: ann, User: bob, Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), Message: "  dentist  "}
	if err := ok.Validate(now); err != nil || ok.Message != "dentist" {
		t.Fatalf("Validate = %v, message %q", err, ok.Message)
	}
	for name, edit := range map[string]func(c *schedule.CoverageRequest){
		"ErrUserRequired":   func(c *schedule.CoverageRequest) { c.User = auth.Ref{} },
		"ErrSelf":           func(c *schedule.CoverageRequest) { c.User = ann },
		"ErrEndBeforeStart": func(c *schedule.CoverageRequest) { c.End = c.Start.Add(-time.Minute) },
		"ErrStarted":        func(c *schedule.CoverageRequest) { c.Start = now },
		"ErrTooLong":        func(c *schedule.CoverageRequest) { c.End = c.Start.Add(schedule.MaxOverrideSpan + time.Hour) },
		"ErrMessageTooLong": func(c *schedule.CoverageRequest) {
			c.Message = strings.Repeat("ü", schedule.MaxCoverageMessage+1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			edit(&c)
			if err := c.Validate(now); !fault.Is(err, fault.Invalid) {
				t.Fatalf("Validate = %v, want Invalid", err)
			}
		})
	}
	t.Run("MessageOfMaxRunes", func(t *testing.T) {
		c := ok
		c.Message = strings.Repeat("ü", schedule.MaxCoverageMessage) // 2000 bytes, 1000 characters
		if err := c.Validate(now); err != nil {
			t.Fatalf("Validate = %v", err)
		}
	})
}

func TestCoverageStatusAt(t *testing.T) {
	start := time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		stored schedule.CoverageStatus
		at     time.Time
		want   schedule.CoverageStatus
	}{
		{schedule.CoveragePending, start.Add(-time.Millisecond), schedule.CoveragePending},
		{schedule.CoveragePending, start, schedule.CoverageExpired},
		{schedule.CoverageAccepted, start.Add(time.Hour), schedule.CoverageAccepted},
		{schedule.CoverageDeclined, start.Add(time.Hour), schedule.CoverageDeclined},
	} {
		r := schedule.CoverageRequest{Status: c.stored, Start: start}
		if got := r.StatusAt(c.at); got != c.want {
			t.Errorf("%s at start%+v: %s, want %s", c.stored, c.at.Sub(start), got, c.want)
		}
	}
}
