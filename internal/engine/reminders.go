package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// Duty reminders: a user's duty rules ask to be told beforeMin minutes before each of their
// on-call shifts starts. A periodic scan, one row in the database that one replica at a time
// claims, looks ahead for shifts and writes each reminder as a notification with a due time,
// so the reminder itself is a durable row like any page. The scan is idempotent: a reminder
// is named by its dedup key, and a scan that finds it again schedules nothing.
const (
	// ReminderEvery is how often the scan runs; it bounds how soon a new shift (an override
	// made a minute ago) gets its reminders.
	ReminderEvery = time.Minute
	// ReminderLookahead is how far ahead the scan looks for shifts: the longest duty rule
	// (a day) and an hour to spare, so every reminder is scheduled well before it is due.
	ReminderLookahead = 25 * time.Hour
	// ReminderGrace is how late a reminder may still go out: one that fell due while no
	// replica ran (a restart) is sent if it is at most this late, and dropped otherwise.
	ReminderGrace = 5 * time.Minute
	// reminderPoll is how often Run asks whether the scan is due; a replica takes the scan
	// over this long at most after the lease of one that died runs out.
	reminderPoll = 10 * time.Second
)

// remindLoop runs the reminder scan whenever it is due, beside the loop that pages, so a
// scan over many schedules never delays a page.
func (e *Engine) remindLoop(ctx context.Context) {
	for ctx.Err() == nil {
		if e.remind(ctx, e.o.Now()) {
			e.Wake()
		}
		t := time.NewTimer(reminderPoll)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// remind runs the reminder scan if it is due and no other replica holds it, and reports
// whether it scheduled reminders due at once. A failed scan is logged and runs again when
// its lease ends.
func (e *Engine) remind(ctx context.Context, now time.Time) bool {
	claim, ok, err := e.o.Store.ClaimReminderScan(ctx, now, now.Add(e.o.Lease))
	if err != nil {
		e.o.Log.Error("claim the reminder scan", "err", err)
		return false
	}
	if !ok {
		return false
	}
	out, err := e.planReminders(ctx, now)
	if err != nil {
		e.o.Log.Error("reminder scan failed; it runs again when its lease ends", "err", err)
		return false
	}
	out.Next = now.Add(ReminderEvery)
	written, err := e.o.Store.CompleteReminderScan(ctx, claim, out)
	if err != nil {
		e.o.Log.Error("record the reminder scan; it runs again when its lease ends", "err", err)
		return false
	}
	if !written {
		return false
	}
	for _, m := range out.Messages {
		if !m.DueAt.After(now) {
			return true
		}
	}
	return false
}

// shiftStart is a user going on call in a schedule.
type shiftStart struct {
	schedule *schedule.Schedule
	loc      *time.Location // the schedule's
	user     int64
	at       time.Time
}

// planReminders works out the reminders of the shifts that start from ReminderGrace ago to
// ReminderLookahead ahead, and which pending reminders no longer hold: their shift moved or
// was taken over, the rule changed or went, or the user muted notifications until after it.
func (e *Engine) planReminders(ctx context.Context, now time.Time) (store.ScanOutcome, error) {
	var out store.ScanOutcome
	from, until := now.Add(-ReminderGrace), now.Add(ReminderLookahead)
	// Overrides from a day earlier: one that ended just before from can still join a shift
	// that goes on past it, and so decides where that shift starts.
	list, err := e.o.Store.SchedulesWithOverrides(ctx, nil, from.Add(-24*time.Hour), until)
	if err != nil {
		return out, err
	}
	var starts []shiftStart
	broken := map[int64]bool{} // schedules whose shifts are unknown: their reminders stay as they are
	for _, s := range list {
		p, err := s.Compile()
		if err != nil {
			e.o.Log.Error("schedule as stored does not compile; its reminders are left as they are", "schedule", s.Schedule.ID, "err", err)
			broken[s.Schedule.ID] = true
			continue
		}
		for _, sh := range p.Shifts(from, until) {
			if !sh.Start.Before(from) && sh.Start.Before(until) {
				starts = append(starts, shiftStart{schedule: s.Schedule, loc: p.Location(), user: sh.User.ID, at: sh.Start})
			}
		}
	}
	seen := map[int64]bool{}
	var users []int64
	for _, st := range starts {
		if !seen[st.user] {
			seen[st.user] = true
			users = append(users, st.user)
		}
	}
	plans, err := e.o.Store.NotificationPlan(ctx, users)
	if err != nil {
		return out, err
	}
	accounts, err := e.o.Store.AccountsByID(ctx, users)
	if err != nil {
		return out, err
	}

	wanted := map[string]*store.NewMessage{} // by dedup key; nil: due too long ago to send
	late := map[string]bool{}                // due before the grace, but the shift has not begun: sent now
	for _, st := range starts {
		plan := plans[st.user]
		loc := st.loc
		if z, err := zone.Load(accounts[st.user].Timezone); err == nil {
			loc = z
		}
		for _, d := range plan.ForDuty() {
			due := st.at.Add(d.Delay)
			if plan.MutedUntil != nil && plan.MutedUntil.After(due) {
				continue
			}
			key := dutyKey(st.schedule.ID, st.user, st.at, d.RuleID)
			if due.Before(from) {
				if !st.at.After(now) {
					wanted[key] = nil
					continue
				}
				// The shift was moved (or made) closer than the reminder's lead: remind now,
				// late, rather than not at all. The dedup key sends it once.
				due, late[key] = now, true
			}
			wanted[key] = &store.NewMessage{UserID: st.user, Purpose: store.PurposeDuty, RuleID: d.RuleID,
				Method: string(d.Method), Target: d.Target, Secret: d.Secret, DueAt: due, DedupKey: key,
				Subject: "On call soon: " + st.schedule.Name,
				Body: fmt.Sprintf("Your on-call shift in %s starts at %s.", st.schedule.Name,
					st.at.In(loc).Format("15:04 MST on Monday, 2 January 2006"))}
		}
	}

	pending, err := e.o.Store.PendingReminders(ctx, now)
	if err != nil {
		return out, err
	}
	for _, r := range pending {
		m, ok := wanted[r.DedupKey]
		switch {
		case ok && m == nil: // the rule now asks for a time already past: keep the one planned
		case ok && late[r.DedupKey]: // a late reminder is already on its way
			delete(wanted, r.DedupKey)
		case ok && m.DueAt.Equal(r.DueAt) && m.Method == r.Method && m.Target == r.Target && m.Secret == r.Secret:
			delete(wanted, r.DedupKey) // scheduled as it should be
		case !ok && broken[dutyKeySchedule(r.DedupKey)]:
		default: // gone, or changed: cancelled, and replaced by what is wanted now
			out.Cancel = append(out.Cancel, r.ID)
		}
	}
	for _, st := range starts { // in shift order, for stable ids
		for _, d := range plans[st.user].ForDuty() {
			if m := wanted[dutyKey(st.schedule.ID, st.user, st.at, d.RuleID)]; m != nil {
				out.Messages = append(out.Messages, *m)
			}
		}
	}
	return out, nil
}

// dutyKey names the reminder by one duty rule of a user's shift that starts at start: a
// shift that moves starts at another time, and gets another reminder.
func dutyKey(scheduleID, userID int64, start time.Time, ruleID int64) string {
	return fmt.Sprintf("duty:%d:%d:%d:%d", scheduleID, userID, start.Unix(), ruleID)
}

// dutyKeySchedule returns the schedule a dutyKey names, or 0.
func dutyKeySchedule(key string) int64 {
	var s, u, at, r int64
	if _, err := fmt.Sscanf(key, "duty:%d:%d:%d:%d", &s, &u, &at, &r); err != nil {
		return 0
	}
	return s
}
