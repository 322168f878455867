package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/api"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/engine"
	"github.com/tocsinhq/tocsin/internal/ingest"
	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

type emailEveryone struct{}

func (emailEveryone) OnCall(context.Context, []int64, time.Time) (map[int64]int64, error) {
	return map[int64]int64{}, nil
}
func (emailEveryone) TeamMembers(context.Context, []int64) ([]int64, error) { return nil, nil }

func (emailEveryone) NextRaise(context.Context, int64, time.Time) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (emailEveryone) UpdateDeliveries(context.Context, []int64, string) (map[int64][]engine.Delivery, error) {
	return nil, nil
}
func (emailEveryone) Deliveries(_ context.Context, users []int64, _ alert.Priority) (map[int64][]engine.Delivery, error) {
	out := map[int64][]engine.Delivery{}
	for _, u := range users {
		out[u] = []engine.Delivery{{Method: notify.Email, Target: "someone@example.com"}}
	}
	return out, nil
}

type inbox struct {
	mu   sync.Mutex
	msgs []notify.Message
}

func (b *inbox) Send(_ context.Context, m notify.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	return nil
}

func TestRespondByLink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		db := storetest.MustOpen(t, dsn)
		f := storetest.NewFixture(t, db)
		key := []byte("0123456789abcdef0123456789abcdef")
		c := ingest.New(db, nil, ingest.Options{})
		defer c.Close()
		var h http.Handler
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
		defer srv.Close()
		h = api.New(api.Options{Store: db, Ingest: c, PublicURL: srv.URL, LinkKey: key, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		box := &inbox{}
		eng := engine.New(engine.Options{Store: db, Directory: emailEveryone{}, Channels: map[notify.Method]notify.Channel{notify.Email: box},
			Links: auth.Links{BaseURL: srv.URL, Key: key, TTL: time.Hour, Now: time.Now}})
		ev := alert.Event{Type: alert.EventAlert, AlertKey: "k", Summary: "<b>disk</b> full"}
		res, err := db.ApplyEvents(context.Background(), []store.EventWork{{Source: f.Source, Event: &ev}})
		if err != nil {
			t.Fatal(err)
		}
		eng.Tick(context.Background())
		if len(box.msgs) != 1 || !strings.HasPrefix(box.msgs[0].AcceptURL, srv.URL+"/respond/") {
			t.Fatalf("messages: %+v", box.msgs)
		}
		accept := box.msgs[0].AcceptURL
		call := func(method, url string) (int, string) {
			req, _ := http.NewRequest(method, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		// Opening the link (a mail scanner would) changes nothing; it asks.
		status, page := call("GET", accept)
		if status != 200 || !strings.Contains(page, "<form method=\"post\">") || !strings.Contains(page, "&lt;b&gt;disk&lt;/b&gt; full") {
			t.Fatalf("GET: %d %s", status, page)
		}
		if status, _ := call("HEAD", accept); status != 200 {
			t.Fatalf("HEAD: %d", status)
		}
		if a, _ := db.Alert(context.Background(), res[0].AlertID); a.Status != alert.Pending {
			t.Fatalf("GET or HEAD changed the alert to %s", a.Status)
		}
		// A link acts with its person's rights as they are now: demoted, they may not use it.
		spare := auth.Account{FirstName: "Spare", LastName: "Admin", Email: "spare@example.com", Role: auth.Admin}
		if err := db.CreateAccount(context.Background(), &spare, ""); err != nil {
			t.Fatal(err)
		}
		demoted := f.User
		demoted.Role = auth.Stakeholder
		if err := db.UpdateAccount(context.Background(), &demoted); err != nil {
			t.Fatal(err)
		}
		if status, page = call("POST", accept); status != 403 || !strings.Contains(page, "may not accept or resolve") {
			t.Fatalf("POST by a STAKEHOLDER: %d %s", status, page)
		}
		if a, _ := db.Alert(context.Background(), res[0].AlertID); a.Status != alert.Pending {
			t.Fatalf("a STAKEHOLDER's link changed the alert to %s", a.Status)
		}
		demoted.Role = f.User.Role
		if err := db.UpdateAccount(context.Background(), &demoted); err != nil {
			t.Fatal(err)
		}
		status, page = call("POST", accept)
		if status != 200 || !strings.Contains(page, "ACCEPTED") {
			t.Fatalf("POST: %d %s", status, page)
		}
		a, _ := db.Alert(context.Background(), res[0].AlertID)
		if a.Status != alert.Accepted || len(a.Responders) != 1 || a.Responders[0].User.ID != f.User.ID {
			t.Fatalf("after the link: %+v", a)
		}
		if status, page = call("POST", accept); status != 400 || !strings.Contains(page, "already used") {
			t.Fatalf("second use: %d %s", status, page)
		}
		forged := strings.Replace(box.msgs[0].ResolveURL, "resolve", "accept", 1)
		if status, _ = call("POST", forged); status != 404 {
			t.Fatalf("forged link: %d", status)
		}
		expired := srv.URL + "/respond/" + auth.SignLink(key, auth.Link{AlertID: a.ID, NotificationID: box.msgs[0].ID, Action: auth.LinkResolve, Expires: time.Now().Add(-time.Second)})
		if status, page = call("POST", expired); status != 400 || !strings.Contains(page, "expired") {
			t.Fatalf("expired link: %d %s", status, page)
		}
		if status, _ = call("POST", box.msgs[0].ResolveURL); status != 200 {
			t.Fatalf("resolve link: %d", status)
		}
		entries, _ := db.LogEntries(context.Background(), a.ID, []string{"ALERT_UPDATES"}, store.Page{Max: 20})
		var texts []string
		for _, e := range entries {
			texts = append(texts, e.Text)
		}
		if !strings.Contains(strings.Join(texts, "\n"), "Alert accepted by Ada Lovelace by email link") {
			t.Fatalf("timeline: %v", texts)
		}
	})
}
