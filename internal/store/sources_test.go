package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func policyRef(id int64) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"id": id, "name": "", "escalationRules": nil})
	return b
}

func mustSource(t *testing.T, db *store.DB, policyID int64, name string) *alert.Source {
	t.Helper()
	s := &alert.Source{Name: name, IntegrationType: "API", EscalationPolicy: policyRef(policyID)}
	if err := db.CreateSource(context.Background(), s, nil); err != nil {
		t.Fatalf("create source %s: %v", name, err)
	}
	return s
}

func countSources(t *testing.T, db *store.DB) int {
	t.Helper()
	list, err := db.Sources(context.Background(), store.Page{Max: 1000})
	if err != nil {
		t.Fatalf("list sources: %v", err)
	}
	return len(list)
}

// sameSource compares sources as their JSON shows them.
func sameSource(t *testing.T, got, want *alert.Source) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("source\n got %s\nwant %s", g, w)
	}
}

func TestCreateSource(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		ops := mustTeam(t, db, "ops")
		p := mustPolicy(t, db, onePolicy("p", ann.ID))
		var s alert.Source
		body := `{"name":"src","integrationType":"prometheus","incidentCreation":"ONE_INCIDENT_GROUPED_PER_WINDOW",
			"incidentPriorityRule":"LOW","active":true,"autoResolutionTimeout":"PT4H","alertGroupingWindow":"PT5M",
			"supportHours":{"id":7,"name":"","supportDays":null},"teams":[{"id":` + jsonInt(ops.ID) + `}],
			"escalationPolicy":{"id":` + jsonInt(p.ID) + `,"name":"","escalationRules":null},
			"summaryTemplate":{"textTemplate":"{{ alert.summary }}","elements":[{"type":"VAR","val":"alert.summary"}]},
			"eventFilter":"(event.priority == \"HIGH\")","emailPredicates":[{"field":"EMAIL_SUBJECT","criteria":"CONTAINS_STRING","value":"x"}]}`
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSource(ctx, &s, nil); err != nil {
			t.Fatal(err)
		}
		if s.ID == 0 || len(s.IntegrationKey) < 32 {
			t.Fatalf("id %d, integration key %q: want an id and a key of at least 32 characters (192 bits)", s.ID, s.IntegrationKey)
		}
		if s.AlertCreation != alert.OneAlertGroupedPerWindow || s.AlertPriorityRule != alert.RuleLow || s.IncidentCreation != "" {
			t.Errorf("legacy fields not folded: alertCreation %q, alertPriorityRule %q", s.AlertCreation, s.AlertPriorityRule)
		}
		if !reflect.DeepEqual(s.Teams, []auth.TeamRef{{ID: ops.ID, Name: "ops"}}) {
			t.Errorf("teams = %+v, want ops with its name", s.Teams)
		}

		byID, err := db.SourceByID(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := s
		want.EscalationPolicy = json.RawMessage(`{"id":` + jsonInt(p.ID) + `}`)
		sameSource(t, byID, &want)
		if string(byID.SupportHours) != `{"id":7,"name":"","supportDays":null}` {
			t.Errorf("supportHours = %s, want it as sent", byID.SupportHours)
		}
		if byID.PolicyID != p.ID || byID.EventFilter == "" || len(byID.SummaryTemplate) == 0 || len(byID.EmailPredicates) == 0 {
			t.Errorf("fields lost on the way through the store: %+v", byID)
		}

		byKey, err := db.SourceByIntegrationKey(ctx, s.IntegrationKey)
		if err != nil {
			t.Fatal(err)
		}
		sameSource(t, byKey, &want)
		byName, err := db.SourceByName(ctx, "src")
		if err != nil || byName.ID != s.ID {
			t.Fatalf("SourceByName = %v, %v", byName, err)
		}
		for _, ref := range []string{jsonInt(s.ID), s.IntegrationKey} {
			if got, err := db.SourceByIDOrKey(ctx, ref); err != nil || got.ID != s.ID {
				t.Fatalf("SourceByIDOrKey(%q) = %v, %v", ref, got, err)
			}
		}

		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := db.SourceByIntegrationKey(ctx, "nope")
			wantCode(t, err, fault.NotFound)
			_, err = db.SourceByID(ctx, s.ID+1)
			wantCode(t, err, fault.NotFound)
			_, err = db.SourceByName(ctx, "SRC")
			wantCode(t, err, fault.NotFound)
			_, err = db.SourceByIDOrKey(ctx, "999")
			wantCode(t, err, fault.NotFound)
		})
		t.Run("KeysDiffer", func(t *testing.T) {
			other := mustSource(t, db, p.ID, "other")
			if other.IntegrationKey == s.IntegrationKey {
				t.Fatal("two sources got the same integration key")
			}
		})
	})
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestCreateSourceRejected(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		p := mustPolicy(t, db, onePolicy("p", ann.ID))
		taken := &alert.Source{Name: "taken", IntegrationType: "API", IntegrationKey: "my-key-0123456789abcdefghij", EscalationPolicy: policyRef(p.ID)}
		if err := db.CreateSource(ctx, taken, nil); err != nil {
			t.Fatal(err)
		}
		if taken.IntegrationKey != "my-key-0123456789abcdefghij" {
			t.Fatalf("integration key %q, want the one given", taken.IntegrationKey)
		}
		cases := map[string]struct {
			s    alert.Source
			code fault.Code
		}{
			"ErrNameRequired":     {alert.Source{IntegrationType: "API", EscalationPolicy: policyRef(p.ID)}, fault.Invalid},
			"ErrUnknownType":      {alert.Source{Name: "x", IntegrationType: "NOPE", EscalationPolicy: policyRef(p.ID)}, fault.Invalid},
			"ErrPolicyRequired":   {alert.Source{Name: "x", IntegrationType: "API"}, fault.Invalid},
			"ErrUnknownPolicy":    {alert.Source{Name: "x", IntegrationType: "API", EscalationPolicy: policyRef(p.ID + 9)}, fault.Invalid},
			"ErrUnknownTeam":      {alert.Source{Name: "x", IntegrationType: "API", EscalationPolicy: policyRef(p.ID), Teams: []auth.TeamRef{{ID: 42}}}, fault.Invalid},
			"ErrGroupingWindow":   {alert.Source{Name: "x", IntegrationType: "API", EscalationPolicy: policyRef(p.ID), AlertGroupingWindow: "PT3M"}, fault.Invalid},
			"ErrIntegrationTaken": {alert.Source{Name: "x", IntegrationType: "API", EscalationPolicy: policyRef(p.ID), IntegrationKey: " my-key-0123456789abcdefghij "}, fault.Conflict},
		}
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				wantCode(t, db.CreateSource(ctx, &c.s, nil), c.code)
				if n := countSources(t, db); n != 1 {
					t.Errorf("%d sources stored after a rejected create, want 1", n)
				}
			})
		}
	})
}

func TestUpdateSource(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		p1 := mustPolicy(t, db, onePolicy("p1", ann.ID))
		p2 := mustPolicy(t, db, onePolicy("p2", ann.ID))
		s := mustSource(t, db, p1.ID, "src")
		other := mustSource(t, db, p1.ID, "other")

		t.Run("KeepsKey", func(t *testing.T) {
			off := false
			upd := &alert.Source{ID: s.ID, Name: "renamed", IntegrationType: "GRAFANA", EscalationPolicy: policyRef(p2.ID), Active: &off,
				SupportHours: json.RawMessage(`{"timezone":"Europe/Berlin","autoRaiseAlerts":true,"supportDays":{"MONDAY":{"start":"08:00","end":"17:00"},"SUNDAY":null}}`)}
			if err := db.UpdateSource(ctx, upd, nil); err != nil {
				t.Fatal(err)
			}
			got, err := db.SourceByID(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.IntegrationKey != s.IntegrationKey || got.Name != "renamed" || got.PolicyID != p2.ID || got.IsActive() ||
				!got.CreatedAt.Equal(s.CreatedAt) || got.IntegrationType != "GRAFANA" {
				t.Fatalf("after update: %+v", got)
			}
			if string(got.SupportHours) != string(upd.SupportHours) {
				t.Errorf("legacy supportHours = %s, want it as sent", got.SupportHours)
			}
		})
		t.Run("NewKey", func(t *testing.T) {
			upd := &alert.Source{ID: s.ID, Name: "src", IntegrationType: "API", EscalationPolicy: policyRef(p1.ID), IntegrationKey: "fresh-0123456789abcdefghij"}
			if err := db.UpdateSource(ctx, upd, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SourceByIntegrationKey(ctx, "fresh-0123456789abcdefghij"); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ErrKeyTaken", func(t *testing.T) {
			upd := &alert.Source{ID: s.ID, Name: "stolen", IntegrationType: "API", EscalationPolicy: policyRef(p1.ID), IntegrationKey: other.IntegrationKey}
			wantCode(t, db.UpdateSource(ctx, upd, nil), fault.Conflict)
			if got, _ := db.SourceByID(ctx, s.ID); got.Name != "src" {
				t.Fatalf("a rejected update renamed the source to %q", got.Name)
			}
		})
		t.Run("ErrUnknownPolicy", func(t *testing.T) {
			upd := &alert.Source{ID: s.ID, Name: "x", IntegrationType: "API", EscalationPolicy: policyRef(p2.ID + 5)}
			wantCode(t, db.UpdateSource(ctx, upd, nil), fault.Invalid)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			upd := &alert.Source{ID: other.ID + 10, Name: "x", IntegrationType: "API", EscalationPolicy: policyRef(p1.ID)}
			wantCode(t, db.UpdateSource(ctx, upd, nil), fault.NotFound)
		})
	})
}

func TestSourceStatus(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		p := mustPolicy(t, db, onePolicy("p", ann.ID))
		s := mustSource(t, db, p.ID, "src")
		quiet := mustSource(t, db, p.ID, "quiet")
		statuses := func() map[string]string {
			t.Helper()
			list, err := db.Sources(ctx, store.Page{Max: 50})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, s := range list {
				out[s.Name] = s.Status
			}
			return out
		}
		want := func(status string) {
			t.Helper()
			if got := statuses(); got["src"] != status || got["quiet"] != store.SourceAllResolved {
				t.Fatalf("statuses = %v, want src %s and quiet ALL_RESOLVED", got, status)
			}
			one, err := db.SourceByID(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.SetSourceStatus(ctx, one); err != nil || one.Status != status {
				t.Fatalf("SetSourceStatus of one source = %q, %v; want %s", one.Status, err, status)
			}
		}
		want(store.SourceAllResolved)
		a1, err := db.CreateManualAlert(ctx, store.ManualAlert{Summary: "one", SourceID: s.ID}, ann)
		if err != nil {
			t.Fatal(err)
		}
		a2, err := db.CreateManualAlert(ctx, store.ManualAlert{Summary: "two", SourceID: s.ID}, ann)
		if err != nil {
			t.Fatal(err)
		}
		want(store.SourcePending)
		if _, err := db.SetAlertStatus(ctx, a1.ID, alert.Accepted, ann); err != nil {
			t.Fatal(err)
		}
		want(store.SourcePending)
		if _, err := db.SetAlertStatus(ctx, a2.ID, alert.Resolved, ann); err != nil {
			t.Fatal(err)
		}
		want(store.SourceAllAccepted)
		if _, err := db.SetAlertStatus(ctx, a1.ID, alert.Resolved, ann); err != nil {
			t.Fatal(err)
		}
		want(store.SourceAllResolved)

		off := false
		s.Active = &off
		s.EscalationPolicy = policyRef(p.ID)
		if err := db.UpdateSource(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
		want(store.SourceDisabled)
		_ = quiet
	})
}

func TestDeleteSource(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		p := mustPolicy(t, db, onePolicy("p", ann.ID))
		s := mustSource(t, db, p.ID, "src")
		a, err := db.CreateManualAlert(ctx, store.ManualAlert{Summary: "one", SourceID: s.ID}, ann)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.DeleteSource(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.SourceByID(ctx, s.ID)
		wantCode(t, err, fault.NotFound)
		_, err = db.Alert(ctx, a.ID)
		wantCode(t, err, fault.NotFound)
		_, err = db.DeleteSource(ctx, s.ID)
		wantCode(t, err, fault.NotFound)
	})
}

func TestSourcesPage(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		p := mustPolicy(t, db, onePolicy("p", ann.ID))
		var ids []int64
		for _, name := range []string{"a", "b", "c"} {
			ids = append(ids, mustSource(t, db, p.ID, name).ID)
		}
		got, err := db.Sources(ctx, store.Page{Start: 1, Max: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != ids[1] || got[1].ID != ids[2] || got[0].Status != store.SourceAllResolved {
			t.Fatalf("page from 1 = %+v", got)
		}
	})
}

// TestSourceTeamsFollowTheTeam: a source lists its teams as they are: renamed with the team,
// and no longer once the team is deleted, so that the source can be saved back as it reads.
func TestSourceTeamsFollowTheTeam(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustAccount(t, db, "Ann")
		p := mustPolicy(t, db, onePolicy("p", ann.ID))
		ops, dev := mustTeam(t, db, "ops"), mustTeam(t, db, "dev")
		s := &alert.Source{Name: "src", IntegrationType: "API", EscalationPolicy: policyRef(p.ID),
			Teams: []auth.TeamRef{{ID: ops.ID}, {ID: dev.ID}}}
		if err := db.CreateSource(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
		other := mustSource(t, db, p.ID, "without teams")
		teams := func() []auth.TeamRef {
			t.Helper()
			got, err := db.SourceByID(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Teams
		}

		ops.Name = "operations"
		if err := db.UpdateTeam(ctx, nil, &ops); err != nil {
			t.Fatal(err)
		}
		if got, want := teams(), []auth.TeamRef{{ID: ops.ID, Name: "operations"}, {ID: dev.ID, Name: "dev"}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after the rename: teams %+v, want %+v", got, want)
		}

		if err := db.DeleteTeam(ctx, nil, ops.ID); err != nil {
			t.Fatal(err)
		}
		got := teams()
		if want := []auth.TeamRef{{ID: dev.ID, Name: "dev"}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after the delete: teams %+v, want %+v", got, want)
		}
		// Saved back as read: accepted.
		src, _ := db.SourceByID(ctx, s.ID)
		src.EscalationPolicy = policyRef(p.ID)
		if err := db.UpdateSource(ctx, src, nil); err != nil {
			t.Fatalf("saving the source back as it reads: %v", err)
		}
		if o, _ := db.SourceByID(ctx, other.ID); len(o.Teams) != 0 || !o.UpdatedAt.Equal(other.UpdatedAt) {
			t.Errorf("a source without teams changed: %+v", o)
		}
	})
}
