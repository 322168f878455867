package api_test

import (
	"fmt"
	"github.com/tocsinhq/tocsin/internal/api"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// contactsOf is the path of a user's contacts of one kind (emails, phone-numbers, webhooks).
func contactsOf(uid any, kind string) string {
	return fmt.Sprintf("/api/users/%v/contacts/%s", uid, kind)
}

// prefsOf is the path of a user's notification preferences of one kind (alerts, duties, updates, subscriptions).
func prefsOf(uid any, kind string) string {
	return fmt.Sprintf("/api/users/%v/notification-preferences/%s", uid, kind)
}

// created posts body and returns the answer, which must be 201 with a positive numeric id.
func (ts *testServer) created(t *testing.T, path, key string, body any) map[string]any {
	t.Helper()
	resp := ts.must(t, 201, "POST", path, key, body)
	m := decodeAs[map[string]any](t, resp)
	if id, ok := m["id"].(float64); !ok || id <= 0 || id != float64(int64(id)) {
		t.Fatalf("POST %s: id = %#v, want a positive JSON integer; body %s", path, m["id"], resp)
	}
	return m
}

func idOf(m map[string]any) int64 { return int64(m["id"].(float64)) }

func TestContactsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		me, key := ts.user(t, auth.User)

		t.Run("Emails", func(t *testing.T) {
			path := contactsOf(me.ID, "emails")
			if body := strings.TrimSpace(string(ts.must(t, 200, "GET", path, key, nil))); body != "[]" {
				t.Fatalf("empty list = %s, want []", body)
			}
			// ilert-go's body: read-only id and status are sent too and ignored.
			c := ts.created(t, path, key, `{"id":0,"target":"Me@Work.example","status":""}`)
			if c["target"] != "Me@Work.example" || c["status"] != "OK" || len(c) != 3 {
				t.Fatalf("created %v, want {id, target, status OK}", c)
			}
			one := fmt.Sprintf("%s/%d", path, idOf(c))
			got := decodeAs[map[string]any](t, ts.must(t, 200, "GET", one, key, nil))
			if got["target"] != "Me@Work.example" || idOf(got) != idOf(c) {
				t.Fatalf("GET = %v", got)
			}
			list := decodeAs[[]map[string]any](t, ts.must(t, 200, "GET", path, key, nil))
			if len(list) != 1 || idOf(list[0]) != idOf(c) {
				t.Fatalf("list = %v", list)
			}
			upd := decodeAs[map[string]any](t, ts.must(t, 200, "PUT", one, key, map[string]any{"target": "me@home.example"}))
			if upd["target"] != "me@home.example" {
				t.Fatalf("PUT = %v", upd)
			}
			// search-target compares email addresses case-insensitively.
			found := decodeAs[map[string]any](t, ts.must(t, 200, "POST", path+"/search-target", key, `{"target":"ME@home.example"}`))
			if idOf(found) != idOf(c) {
				t.Fatalf("search-target = %v", found)
			}
			ts.wantError(t, 404, "NOT_FOUND", "POST", path+"/search-target", key, `{"target":"nobody@home.example"}`)
			ts.wantError(t, 404, "NOT_FOUND", "POST", path+"/search-target", key, `{"target":"not an address"}`)
			ts.wantError(t, 400, "INVALID_INPUT", "POST", path+"/search-target", key, `{"target":""}`)

			ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, `{"target":"not-an-address"}`)
			ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, `{"target":""}`)
			ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, `{"target":5}`)
			ts.wantError(t, 400, "CONFLICT", "POST", path, key, `{"target":"ME@HOME.example"}`)
			ts.wantError(t, 404, "NOT_FOUND", "GET", path+"/999999", key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "PUT", path+"/999999", key, `{"target":"x@example.com"}`)
			ts.wantError(t, 400, "INVALID_INPUT", "GET", path+"/abc", key, nil)
			// An email contact is not a phone number.
			ts.wantError(t, 404, "NOT_FOUND", "GET", fmt.Sprintf("%s/%d", contactsOf(me.ID, "phone-numbers"), idOf(c)), key, nil)

			ts.must(t, 204, "DELETE", one, key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "GET", one, key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "DELETE", one, key, nil)
		})

		t.Run("PhoneNumbers", func(t *testing.T) {
			path := contactsOf("current", "phone-numbers")
			p := ts.created(t, path, key, `{"regionCode":"DE","target":"030 1234567"}`)
			want := map[string]any{"regionCode": "DE", "target": "030 1234567", "e164": "+49301234567", "primary": true, "status": "OK"}
			for k, v := range want {
				if p[k] != v {
					t.Errorf("%s = %#v, want %#v (answer %v)", k, p[k], v, p)
				}
			}
			q := ts.created(t, path, key, `{"regionCode":"","target":"+1 415 555 0100"}`)
			if q["primary"] != false || q["e164"] != "+14155550100" {
				t.Fatalf("second number %v", q)
			}
			// Found by its E.164 form, however it was written.
			found := decodeAs[map[string]any](t, ts.must(t, 200, "POST", path+"/search-target", key, `{"target":"+49 30 1234567"}`))
			if idOf(found) != idOf(p) {
				t.Fatalf("search-target = %v", found)
			}
			ts.must(t, 200, "POST", path+"/name", key, `{"target":"+14155550100"}`)
			ts.wantError(t, 404, "NOT_FOUND", "POST", path+"/search-target", key, `{"target":"+49301234569"}`)

			// Making the second primary takes it from the first; a PUT without primary keeps it.
			ts.must(t, 200, "PUT", fmt.Sprintf("%s/%d", path, idOf(q)), key, `{"target":"+14155550100","primary":true}`)
			first := decodeAs[map[string]any](t, ts.must(t, 200, "PUT", fmt.Sprintf("%s/%d", path, idOf(p)), key,
				`{"regionCode":"DE","target":"030 1234568"}`))
			if first["primary"] != false || first["e164"] != "+49301234568" {
				t.Fatalf("first number after PUT %v", first)
			}

			for _, bad := range []string{
				`{"target":"12345"}`,
				`{"target":"030 1234567"}`,                   // national, no region
				`{"regionCode":"XX","target":"030 1234567"}`, // a region tocsin cannot read
				`{"target":"+49 30 CALL-ME"}`,
				`{"target":"+1234567890123456"}`,
				`{"regionCode":"Germany","target":"+49301234567"}`,
			} {
				ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, bad)
			}
			ts.wantError(t, 400, "CONFLICT", "POST", path, key, `{"target":"+1 (415) 555-0100"}`)
		})

		t.Run("Webhooks", func(t *testing.T) {
			path := contactsOf(me.ID, "webhooks")
			w := ts.created(t, path, key, `{"target":"https://hooks.example.com/tocsin"}`)
			secret, _ := w["secret"].(string)
			if !strings.HasPrefix(secret, "whsec_") || len(secret) < len("whsec_")+43 || w["status"] != "OK" {
				t.Fatalf("created webhook %v: want a secret of at least 256 bits", w)
			}
			one := fmt.Sprintf("%s/%d", path, idOf(w))
			for _, resp := range [][]byte{ts.must(t, 200, "GET", one, key, nil), ts.must(t, 200, "GET", path, key, nil),
				ts.must(t, 200, "PUT", one, key, `{"target":"https://hooks.example.com/v2"}`)} {
				if strings.Contains(string(resp), secret) || strings.Contains(string(resp), `"secret"`) {
					t.Fatalf("the secret is shown after creation: %s", resp)
				}
			}
			rotated := decodeAs[map[string]any](t, ts.must(t, 200, "PUT", one, key, `{"target":"https://hooks.example.com/v2","rotateSecret":true}`))
			if s, _ := rotated["secret"].(string); s == "" || s == secret {
				t.Fatalf("rotateSecret answered %v, want a new secret", rotated)
			}
			ts.must(t, 200, "POST", path+"/search-target", key, `{"target":"https://hooks.example.com/v2"}`)
		})

		t.Run("UnknownUser", func(t *testing.T) {
			ts.wantError(t, 404, "NOT_FOUND", "GET", contactsOf(999999, "emails"), ts.AdminKey, nil)
			ts.wantError(t, 404, "NOT_FOUND", "POST", contactsOf("nobody", "emails"), ts.AdminKey, `{"target":"a@example.com"}`)
			ts.wantError(t, 401, "UNAUTHORIZED", "GET", contactsOf(me.ID, "emails"), "", nil)
		})
	})
}

func TestContactPermissions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		guest, guestKey := ts.user(t, auth.Guest)
		user, userKey := ts.user(t, auth.User)
		other, otherKey := ts.user(t, auth.Responder)

		for _, kind := range []string{"emails", "phone-numbers", "webhooks"} {
			t.Run(kind, func(t *testing.T) {
				body := map[string]string{"emails": `{"target":"x@example.com"}`, "phone-numbers": `{"target":"+49301234567"}`,
					"webhooks": `{"target":"https://hooks.example.com/x"}`}[kind]
				// Every user, a GUEST too, manages their own.
				g := ts.created(t, contactsOf(guest.ID, kind), guestKey, body)
				ts.must(t, 200, "GET", fmt.Sprintf("%s/%d", contactsOf("current", kind), idOf(g)), guestKey, nil)
				// Nobody but an ADMIN touches another user's, whatever their role.
				for _, k := range []string{userKey, otherKey} {
					ts.wantError(t, 403, "FORBIDDEN", "GET", contactsOf(guest.ID, kind), k, nil)
					ts.wantError(t, 403, "FORBIDDEN", "POST", contactsOf(guest.ID, kind), k, body)
					ts.wantError(t, 403, "FORBIDDEN", "GET", fmt.Sprintf("%s/%d", contactsOf(guest.ID, kind), idOf(g)), k, nil)
					ts.wantError(t, 403, "FORBIDDEN", "PUT", fmt.Sprintf("%s/%d", contactsOf(guest.ID, kind), idOf(g)), k, body)
					ts.wantError(t, 403, "FORBIDDEN", "DELETE", fmt.Sprintf("%s/%d", contactsOf(guest.ID, kind), idOf(g)), k, nil)
					ts.wantError(t, 403, "FORBIDDEN", "POST", contactsOf(guest.ID, kind)+"/search-target", k, body)
				}
				// A user's own path with another user's contact id finds nothing.
				ts.wantError(t, 404, "NOT_FOUND", "GET", fmt.Sprintf("%s/%d", contactsOf(user.ID, kind), idOf(g)), userKey, nil)
				ts.wantError(t, 404, "NOT_FOUND", "DELETE", fmt.Sprintf("%s/%d", contactsOf("current", kind), idOf(g)), userKey, nil)
				// An ADMIN manages anyone's.
				a := ts.created(t, contactsOf(other.ID, kind), ts.AdminKey, body)
				ts.must(t, 200, "GET", fmt.Sprintf("%s/%d", contactsOf(other.ID, kind), idOf(a)), otherKey, nil)
				ts.must(t, 204, "DELETE", fmt.Sprintf("%s/%d", contactsOf(guest.ID, kind), idOf(g)), ts.AdminKey, nil)
			})
		}
		t.Run("Preferences", func(t *testing.T) {
			ts.must(t, 200, "GET", prefsOf(guest.ID, "alerts"), guestKey, nil)
			ts.wantError(t, 403, "FORBIDDEN", "GET", prefsOf(guest.ID, "alerts"), userKey, nil)
			ts.wantError(t, 403, "FORBIDDEN", "POST", prefsOf(guest.ID, "duties"), userKey, `{"method":"PUSH","beforeMin":0,"type":"ON_CALL"}`)
			ts.created(t, prefsOf(guest.ID, "alerts"), ts.AdminKey, `{"method":"PUSH","delayMin":0,"type":"HIGH_PRIORITY"}`)
			// A non-ADMIN naming an unknown user is told Forbidden, not whether the user exists.
			ts.wantError(t, 403, "FORBIDDEN", "GET", prefsOf(999999, "alerts"), userKey, nil)
		})
	})
}

func TestWebhookContactAddresses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		me, key := ts.user(t, auth.User)
		path := contactsOf(me.ID, "webhooks")
		refused := []string{
			"http://127.0.0.1:8080/hook",
			"http://10.0.0.1/hook",
			"http://[::1]/hook",
			"http://169.254.169.254/latest/meta-data/",
			"http://localhost/hook",
			"http://2130706433/",
			"ftp://hooks.example.com/hook",
			"https://user:pass@hooks.example.com/hook",
			"hooks.example.com/hook",
		}
		for _, u := range refused {
			ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, map[string]string{"target": u})
		}
		good := ts.created(t, path, key, `{"target":"https://hooks.example.com/ok"}`)
		// A PUT is checked like a POST.
		ts.wantError(t, 400, "INVALID_INPUT", "PUT", fmt.Sprintf("%s/%d", path, idOf(good)), key, `{"target":"http://10.0.0.1/"}`)

		t.Run("AllowPrivate", func(t *testing.T) {
			ts := newTestServerWith(t, storetest.SQLiteDSN(t), func(o *api.Options) { o.AllowPrivateWebhooks = true })
			me, key := ts.user(t, auth.User)
			path := contactsOf(me.ID, "webhooks")
			for _, u := range []string{"http://127.0.0.1:8080/hook", "http://10.0.0.1/hook", "http://[::1]/hook", "http://localhost/hook"} {
				ts.created(t, path, key, map[string]string{"target": u})
			}
			// Still refused: cloud metadata, other schemes, credentials in the URL.
			for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "ftp://hooks.example.com/hook",
				"https://user:pass@hooks.example.com/hook"} {
				ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, map[string]string{"target": u})
			}
		})
	})
}

func TestNotificationPreferencesAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		me, key := ts.user(t, auth.User)
		other, otherKey := ts.user(t, auth.User)
		email := idOf(ts.created(t, contactsOf(me.ID, "emails"), key, `{"target":"me@work.example"}`))
		phone := idOf(ts.created(t, contactsOf(me.ID, "phone-numbers"), key, `{"target":"+49301234567"}`))
		hook := idOf(ts.created(t, contactsOf(me.ID, "webhooks"), key, `{"target":"https://hooks.example.com/me"}`))
		othersEmail := idOf(ts.created(t, contactsOf(other.ID, "emails"), otherKey, `{"target":"other@work.example"}`))

		t.Run("Alerts", func(t *testing.T) {
			path := prefsOf(me.ID, "alerts")
			if body := strings.TrimSpace(string(ts.must(t, 200, "GET", path, key, nil))); body != "[]" {
				t.Fatalf("empty list = %s, want []", body)
			}
			// ilert-go's body, as TF sends it.
			r := ts.created(t, path, key, fmt.Sprintf(`{"method":"SMS","contact":{"id":%d},"delayMin":1,"type":"HIGH_PRIORITY"}`, phone))
			c, _ := r["contact"].(map[string]any)
			if r["method"] != "SMS" || r["delayMin"] != float64(1) || r["type"] != "HIGH_PRIORITY" || c == nil ||
				int64(c["id"].(float64)) != phone || c["target"] != "+49301234567" {
				t.Fatalf("created %v", r)
			}
			one := fmt.Sprintf("%s/%d", path, idOf(r))
			got := decodeAs[map[string]any](t, ts.must(t, 200, "GET", one, key, nil))
			if idOf(got) != idOf(r) || got["delayMin"] != float64(1) {
				t.Fatalf("GET = %v", got)
			}
			upd := decodeAs[map[string]any](t, ts.must(t, 200, "PUT", one, key,
				fmt.Sprintf(`{"method":"voice","contact":{"id":%d,"target":"ignored"},"delayMin":1440,"type":"HIGH_PRIORITY"}`, phone)))
			if upd["method"] != "VOICE" || upd["delayMin"] != float64(1440) {
				t.Fatalf("PUT = %v", upd)
			}
			push := ts.created(t, path, key, `{"method":"PUSH","contact":null,"delayMin":0,"type":"LOW_PRIORITY"}`)
			if push["contact"] != nil {
				t.Fatalf("PUSH contact = %v, want null", push["contact"])
			}
			ts.created(t, path, key, fmt.Sprintf(`{"method":"WEBHOOK","contact":{"id":%d},"delayMin":0,"type":"HIGH_PRIORITY"}`, hook))
			list := decodeAs[[]map[string]any](t, ts.must(t, 200, "GET", path, key, nil))
			if len(list) != 3 {
				t.Fatalf("list has %d rules, want 3: %v", len(list), list)
			}

			for name, body := range map[string]string{
				"ErrEmailToPhone":       fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"delayMin":0,"type":"HIGH_PRIORITY"}`, phone),
				"ErrSMSToEmail":         fmt.Sprintf(`{"method":"SMS","contact":{"id":%d},"delayMin":0,"type":"HIGH_PRIORITY"}`, email),
				"ErrWebhookToEmail":     fmt.Sprintf(`{"method":"WEBHOOK","contact":{"id":%d},"delayMin":0,"type":"HIGH_PRIORITY"}`, email),
				"ErrOtherUsersContact":  fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"delayMin":0,"type":"HIGH_PRIORITY"}`, othersEmail),
				"ErrUnknownContact":     `{"method":"EMAIL","contact":{"id":999999},"delayMin":0,"type":"HIGH_PRIORITY"}`,
				"ErrNoContact":          `{"method":"EMAIL","delayMin":0,"type":"HIGH_PRIORITY"}`,
				"ErrPushWithContact":    fmt.Sprintf(`{"method":"PUSH","contact":{"id":%d},"delayMin":0,"type":"HIGH_PRIORITY"}`, email),
				"ErrUnknownMethod":      fmt.Sprintf(`{"method":"FAX","contact":{"id":%d},"delayMin":0,"type":"HIGH_PRIORITY"}`, email),
				"ErrUnknownType":        fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"delayMin":0,"type":"ON_CALL"}`, email),
				"ErrDelayTooLong":       fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"delayMin":1441,"type":"HIGH_PRIORITY"}`, email),
				"ErrDelayNegative":      fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"delayMin":-1,"type":"HIGH_PRIORITY"}`, email),
				"ErrDelayNotAnInteger":  fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"delayMin":"5","type":"HIGH_PRIORITY"}`, email),
				"ErrContactIDNotNumber": `{"method":"EMAIL","contact":{"id":"1"},"delayMin":0,"type":"HIGH_PRIORITY"}`,
			} {
				t.Run(name, func(t *testing.T) {
					ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, body)
				})
			}
			ts.wantError(t, 404, "NOT_FOUND", "GET", path+"/999999", key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "PUT", path+"/999999", key,
				fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"delayMin":0,"type":"HIGH_PRIORITY"}`, email))
			// An alert rule is not a duty rule.
			ts.wantError(t, 404, "NOT_FOUND", "GET", fmt.Sprintf("%s/%d", prefsOf(me.ID, "duties"), idOf(r)), key, nil)

			t.Run("ContactInUse", func(t *testing.T) {
				phonePath := fmt.Sprintf("%s/%d", contactsOf(me.ID, "phone-numbers"), phone)
				e := ts.wantError(t, 400, "INVALID_INPUT", "DELETE", phonePath, key, nil)
				if !strings.Contains(e.Message, fmt.Sprint(idOf(r))) {
					t.Errorf("message %q does not name the rule", e.Message)
				}
				ts.must(t, 204, "DELETE", one, key, nil)
				ts.wantError(t, 404, "NOT_FOUND", "GET", one, key, nil)
				ts.must(t, 204, "DELETE", phonePath, key, nil)
			})
		})

		t.Run("Duties", func(t *testing.T) {
			path := prefsOf("current", "duties")
			d := ts.created(t, path, key, fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"beforeMin":60,"type":"ON_CALL"}`, email))
			if d["beforeMin"] != float64(60) || d["type"] != "ON_CALL" || d["method"] != "EMAIL" {
				t.Fatalf("created %v", d)
			}
			if _, ok := d["delayMin"]; ok {
				t.Errorf("a duty shows delayMin: %v", d)
			}
			ts.must(t, 200, "PUT", fmt.Sprintf("%s/%d", path, idOf(d)), key,
				fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"beforeMin":1440,"type":"ON_CALL"}`, email))
			ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"beforeMin":20,"type":"ON_CALL"}`, email))
			ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, `{"method":"VOICE","contact":{"id":1},"beforeMin":0,"type":"ON_CALL"}`)
			ts.must(t, 204, "DELETE", fmt.Sprintf("%s/%d", path, idOf(d)), key, nil)
		})

		t.Run("Updates", func(t *testing.T) {
			path := prefsOf(me.ID, "updates")
			u := ts.created(t, path, key, fmt.Sprintf(`{"method":"WEBHOOK","contact":{"id":%d},"type":"ALERT_RESOLVED"}`, hook))
			if u["type"] != "ALERT_RESOLVED" || u["method"] != "WEBHOOK" {
				t.Fatalf("created %v", u)
			}
			if _, ok := u["delayMin"]; ok {
				t.Errorf("an update shows delayMin: %v", u)
			}
			ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"type":"HIGH_PRIORITY"}`, email))
			list := decodeAs[[]map[string]any](t, ts.must(t, 200, "GET", path, key, nil))
			if len(list) != 1 || idOf(list[0]) != idOf(u) {
				t.Fatalf("list = %v", list)
			}
		})

		t.Run("Subscriptions", func(t *testing.T) {
			path := prefsOf(me.ID, "subscriptions")
			// ilert-go's body, as Terraform's ilert_user_subscription_preference sends it.
			sub := ts.created(t, path, key, fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d}}`, email))
			if c, _ := sub["contact"].(map[string]any); sub["method"] != "EMAIL" || c == nil || int64(c["id"].(float64)) != email {
				t.Fatalf("created %v", sub)
			}
			for _, field := range []string{"type", "delayMin", "beforeMin"} {
				if _, ok := sub[field]; ok {
					t.Errorf("a subscription preference shows %s: %v", field, sub)
				}
			}
			one := fmt.Sprintf("%s/%d", path, idOf(sub))
			if got := decodeAs[map[string]any](t, ts.must(t, 200, "PUT", one, key, `{"method":"PUSH"}`)); got["method"] != "PUSH" || got["contact"] != nil {
				t.Fatalf("PUT = %v", got)
			}
			if got := decodeAs[map[string]any](t, ts.must(t, 200, "GET", one, key, nil)); got["method"] != "PUSH" {
				t.Fatalf("GET = %v", got)
			}
			for _, bad := range []string{
				fmt.Sprintf(`{"method":"VOICE","contact":{"id":%d}}`, phone),
				fmt.Sprintf(`{"method":"WEBHOOK","contact":{"id":%d}}`, hook),
				fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d},"type":"HIGH_PRIORITY"}`, email),
				fmt.Sprintf(`{"method":"EMAIL","contact":{"id":%d}}`, othersEmail),
			} {
				ts.wantError(t, 400, "INVALID_INPUT", "POST", path, key, bad)
			}
			ts.wantError(t, 403, "FORBIDDEN", "GET", path, otherKey, nil)
			// It is not an alert rule: the alerts list does not show it.
			ts.wantError(t, 404, "NOT_FOUND", "GET", fmt.Sprintf("%s/%d", prefsOf(me.ID, "alerts"), idOf(sub)), key, nil)
			ts.must(t, 204, "DELETE", one, key, nil)
			ts.wantError(t, 404, "NOT_FOUND", "GET", one, key, nil)
		})
	})
}
