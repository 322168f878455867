package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/contact"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func newContact(t *testing.T, db *store.DB, userID int64, kind contact.Kind, target, region string) contact.Contact {
	t.Helper()
	c := contact.Contact{UserID: userID, Kind: kind, Target: target, RegionCode: region}
	if err := db.CreateContact(context.Background(), &c); err != nil {
		t.Fatalf("CreateContact(%s %q): %v", kind, target, err)
	}
	return c
}

func newRule(t *testing.T, db *store.DB, r contact.Rule) contact.Rule {
	t.Helper()
	if err := db.CreateRule(context.Background(), &r); err != nil {
		t.Fatalf("CreateRule(%+v): %v", r, err)
	}
	return r
}

func TestContacts(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ada := newAccount(t, db, "ada@example.com", auth.User)
		bob := newAccount(t, db, "bob@example.com", auth.User)

		t.Run("Email", func(t *testing.T) {
			c := newContact(t, db, ada.ID, contact.KindEmail, " Ada@Work.example ", "")
			if c.ID <= 0 || c.Target != "Ada@Work.example" || c.Status != contact.OK || c.Secret != "" {
				t.Fatalf("created %+v", c)
			}
			got, err := db.Contact(ctx, ada.ID, contact.KindEmail, c.ID)
			if err != nil || got != c {
				t.Fatalf("Contact = %+v, %v; want %+v", got, err, c)
			}
			dup := contact.Contact{UserID: ada.ID, Kind: contact.KindEmail, Target: "ada@WORK.example"}
			requireCode(t, db.CreateContact(ctx, &dup), fault.Conflict)
			// Another user may have the same address.
			newContact(t, db, bob.ID, contact.KindEmail, "ada@work.example", "")

			found, err := db.ContactByTarget(ctx, ada.ID, contact.KindEmail, "ada@work.example")
			if err != nil || found.ID != c.ID {
				t.Fatalf("ContactByTarget = %+v, %v; want contact %d", found, err, c.ID)
			}
			_, err = db.ContactByTarget(ctx, ada.ID, contact.KindEmail, "nobody@work.example")
			requireCode(t, err, fault.NotFound)

			c.Target = "ada@home.example"
			if err := db.UpdateContact(ctx, &c, false); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.Contact(ctx, ada.ID, contact.KindEmail, c.ID); got.Target != "ada@home.example" {
				t.Fatalf("after update: %+v", got)
			}
			bad := contact.Contact{UserID: ada.ID, Kind: contact.KindEmail, Target: "no-at-sign"}
			requireCode(t, db.CreateContact(ctx, &bad), fault.Invalid)
		})

		t.Run("NotFoundForOtherUserOrKind", func(t *testing.T) {
			c := newContact(t, db, ada.ID, contact.KindEmail, "other@example.com", "")
			_, err := db.Contact(ctx, bob.ID, contact.KindEmail, c.ID)
			requireCode(t, err, fault.NotFound)
			_, err = db.Contact(ctx, ada.ID, contact.KindPhone, c.ID)
			requireCode(t, err, fault.NotFound)
			requireCode(t, db.DeleteContact(ctx, bob.ID, contact.KindEmail, c.ID), fault.NotFound)
			upd := contact.Contact{ID: c.ID, UserID: bob.ID, Kind: contact.KindEmail, Target: "x@example.com"}
			requireCode(t, db.UpdateContact(ctx, &upd, false), fault.NotFound)
			missing := contact.Contact{UserID: 1 << 40, Kind: contact.KindEmail, Target: "x@example.com"}
			requireCode(t, db.CreateContact(ctx, &missing), fault.NotFound)
		})

		t.Run("PhonePrimary", func(t *testing.T) {
			p1 := newContact(t, db, bob.ID, contact.KindPhone, "030 1234567", "DE")
			if p1.Address != "+49301234567" || p1.Target != "030 1234567" || !p1.Primary {
				t.Fatalf("first phone %+v: want address in E.164, target as written, primary", p1)
			}
			p2 := newContact(t, db, bob.ID, contact.KindPhone, "+1 415 555 0100", "")
			if p2.Primary {
				t.Fatal("a second phone became primary unasked")
			}
			dup := contact.Contact{UserID: bob.ID, Kind: contact.KindPhone, Target: "+49 30 1234567"}
			requireCode(t, db.CreateContact(ctx, &dup), fault.Conflict)

			p2.Primary = true
			if err := db.UpdateContact(ctx, &p2, false); err != nil {
				t.Fatal(err)
			}
			list, err := db.Contacts(ctx, bob.ID, contact.KindPhone)
			if err != nil {
				t.Fatal(err)
			}
			var primaries []int64
			for _, c := range list {
				if c.Primary {
					primaries = append(primaries, c.ID)
				}
			}
			if !slices.Equal(primaries, []int64{p2.ID}) {
				t.Fatalf("primary numbers %v, want only %d", primaries, p2.ID)
			}
			found, err := db.ContactByTarget(ctx, bob.ID, contact.KindPhone, "+49301234567")
			if err != nil || found.ID != p1.ID {
				t.Fatalf("ContactByTarget(E.164 of a national number) = %+v, %v", found, err)
			}
		})

		t.Run("WebhookSecret", func(t *testing.T) {
			w := newContact(t, db, ada.ID, contact.KindWebhook, "https://hooks.example.com/a", "")
			if !strings.HasPrefix(w.Secret, "whsec_") {
				t.Fatalf("webhook secret %q", w.Secret)
			}
			first := w.Secret
			w.Target = "https://hooks.example.com/b"
			if err := db.UpdateContact(ctx, &w, false); err != nil {
				t.Fatal(err)
			}
			if w.Secret != first {
				t.Fatal("an update without rotateSecret changed the secret")
			}
			if err := db.UpdateContact(ctx, &w, true); err != nil {
				t.Fatal(err)
			}
			if w.Secret == first || !strings.HasPrefix(w.Secret, "whsec_") {
				t.Fatalf("rotated secret %q, was %q", w.Secret, first)
			}
			if got, _ := db.Contact(ctx, ada.ID, contact.KindWebhook, w.ID); got.Secret != w.Secret {
				t.Fatal("the rotated secret was not stored")
			}
		})

		t.Run("ListIsEmptyNotNil", func(t *testing.T) {
			carl := newAccount(t, db, "carl@example.com", auth.User)
			list, err := db.Contacts(ctx, carl.ID, contact.KindWebhook)
			if err != nil || list == nil || len(list) != 0 {
				t.Fatalf("Contacts = %#v, %v; want an empty list", list, err)
			}
			rules, err := db.Rules(ctx, carl.ID, contact.Alerts)
			if err != nil || rules == nil || len(rules) != 0 {
				t.Fatalf("Rules = %#v, %v; want an empty list", rules, err)
			}
		})
	})
}

func TestNotificationRules(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ada := newAccount(t, db, "ada@example.com", auth.User)
		bob := newAccount(t, db, "bob@example.com", auth.User)
		email := newContact(t, db, ada.ID, contact.KindEmail, "ada@work.example", "")
		phone := newContact(t, db, ada.ID, contact.KindPhone, "+49301234567", "")
		bobsEmail := newContact(t, db, bob.ID, contact.KindEmail, "bob@work.example", "")

		r := newRule(t, db, contact.Rule{UserID: ada.ID, Kind: contact.Alerts, Method: "sms", ContactID: phone.ID, Type: "high_priority", Minutes: 3})
		want := contact.Rule{ID: r.ID, UserID: ada.ID, Kind: contact.Alerts, Method: contact.SMS, ContactID: phone.ID,
			Type: contact.HighPriority, Minutes: 3, ContactTarget: "+49301234567"}
		if r != want {
			t.Fatalf("created %+v, want %+v", r, want)
		}
		if got, err := db.Rule(ctx, ada.ID, contact.Alerts, r.ID); err != nil || got != want {
			t.Fatalf("Rule = %+v, %v", got, err)
		}
		_, err := db.Rule(ctx, ada.ID, contact.Duties, r.ID)
		requireCode(t, err, fault.NotFound)
		_, err = db.Rule(ctx, bob.ID, contact.Alerts, r.ID)
		requireCode(t, err, fault.NotFound)

		t.Run("ErrContactDoesNotFitMethod", func(t *testing.T) {
			bad := contact.Rule{UserID: ada.ID, Kind: contact.Alerts, Method: contact.Email, ContactID: phone.ID, Type: contact.HighPriority}
			requireCode(t, db.CreateRule(ctx, &bad), fault.Invalid)
		})
		t.Run("ErrOtherUsersContact", func(t *testing.T) {
			bad := contact.Rule{UserID: ada.ID, Kind: contact.Alerts, Method: contact.Email, ContactID: bobsEmail.ID, Type: contact.HighPriority}
			requireCode(t, db.CreateRule(ctx, &bad), fault.Invalid)
		})
		t.Run("ErrUnknownContact", func(t *testing.T) {
			bad := contact.Rule{UserID: ada.ID, Kind: contact.Alerts, Method: contact.Email, ContactID: 1 << 40, Type: contact.HighPriority}
			requireCode(t, db.CreateRule(ctx, &bad), fault.Invalid)
		})
		t.Run("ErrUnknownUser", func(t *testing.T) {
			bad := contact.Rule{UserID: 1 << 40, Kind: contact.Alerts, Method: contact.Push, Type: contact.HighPriority}
			requireCode(t, db.CreateRule(ctx, &bad), fault.NotFound)
		})

		t.Run("Update", func(t *testing.T) {
			u := contact.Rule{ID: r.ID, UserID: ada.ID, Kind: contact.Alerts, Method: contact.Email, ContactID: email.ID, Type: contact.LowPriority, Minutes: 10}
			if err := db.UpdateRule(ctx, &u); err != nil {
				t.Fatal(err)
			}
			if u.Method != contact.Email || u.ContactTarget != "ada@work.example" || u.Type != contact.LowPriority || u.Minutes != 10 {
				t.Fatalf("updated %+v", u)
			}
			wrongKind := u
			wrongKind.Kind, wrongKind.Type, wrongKind.Minutes = contact.Updates, contact.AlertResolved, 0
			requireCode(t, db.UpdateRule(ctx, &wrongKind), fault.NotFound)
			misfit := u
			misfit.ContactID = phone.ID
			requireCode(t, db.UpdateRule(ctx, &misfit), fault.Invalid)
			// Back to SMS for the tests that follow.
			u.Method, u.ContactID, u.Type, u.Minutes = contact.SMS, phone.ID, contact.HighPriority, 3
			if err := db.UpdateRule(ctx, &u); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("ContactInUseCannotBeDeleted", func(t *testing.T) {
			err := db.DeleteContact(ctx, ada.ID, contact.KindPhone, phone.ID)
			requireCode(t, err, fault.Invalid)
			if !strings.Contains(fault.MessageOf(err), "alerts") {
				t.Errorf("message %q does not say which rule uses the contact", fault.MessageOf(err))
			}
			spare := newContact(t, db, ada.ID, contact.KindPhone, "+49301234568", "")
			if err := db.DeleteContact(ctx, ada.ID, contact.KindPhone, spare.ID); err != nil {
				t.Fatalf("deleting an unused contact: %v", err)
			}
		})

		t.Run("Delete", func(t *testing.T) {
			d := newRule(t, db, contact.Rule{UserID: ada.ID, Kind: contact.Updates, Method: contact.Email, ContactID: email.ID, Type: contact.AlertAccepted})
			requireCode(t, db.DeleteRule(ctx, ada.ID, contact.Alerts, d.ID), fault.NotFound)
			if err := db.DeleteRule(ctx, ada.ID, contact.Updates, d.ID); err != nil {
				t.Fatal(err)
			}
			requireCode(t, db.DeleteRule(ctx, ada.ID, contact.Updates, d.ID), fault.NotFound)
		})

		t.Run("DeletingTheUserDeletesContactsAndRules", func(t *testing.T) {
			cy := newAccount(t, db, "cy@example.com", auth.User)
			c := newContact(t, db, cy.ID, contact.KindEmail, "cy@work.example", "")
			newRule(t, db, contact.Rule{UserID: cy.ID, Kind: contact.Alerts, Method: contact.Email, ContactID: c.ID, Type: contact.HighPriority})
			if err := db.DeleteAccount(ctx, cy.ID); err != nil {
				t.Fatalf("DeleteAccount with contacts and rules: %v", err)
			}
			_, err := db.Contact(ctx, cy.ID, contact.KindEmail, c.ID)
			requireCode(t, err, fault.NotFound)
		})
	})
}

func TestNotificationPlan(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ada := newAccount(t, db, "ada@example.com", auth.User)
		bob := newAccount(t, db, "bob@example.com", auth.User)
		muted := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		bob.MutedUntil = &muted
		if err := db.UpdateAccount(ctx, &bob); err != nil {
			t.Fatal(err)
		}
		email := newContact(t, db, ada.ID, contact.KindEmail, "ada@work.example", "")
		phone := newContact(t, db, ada.ID, contact.KindPhone, "030 1234567", "DE")
		hook := newContact(t, db, ada.ID, contact.KindWebhook, "https://hooks.example.com/ada", "")
		voice := newRule(t, db, contact.Rule{UserID: ada.ID, Kind: contact.Alerts, Method: contact.Voice, ContactID: phone.ID, Type: contact.HighPriority, Minutes: 5})
		mail := newRule(t, db, contact.Rule{UserID: ada.ID, Kind: contact.Alerts, Method: contact.Email, ContactID: email.ID, Type: contact.HighPriority})
		web := newRule(t, db, contact.Rule{UserID: ada.ID, Kind: contact.Updates, Method: contact.Webhook, ContactID: hook.ID, Type: contact.AlertResolved})
		// A contact no rule names stays out of the plan.
		newContact(t, db, ada.ID, contact.KindEmail, "ada@unused.example", "")

		plan, err := db.NotificationPlan(ctx, []int64{bob.ID, ada.ID, 1 << 40, ada.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan) != 2 {
			t.Fatalf("plan has %d users, want 2 (the unknown id left out): %+v", len(plan), plan)
		}
		a := plan[ada.ID]
		if a.Email != "ada@example.com" || a.Name != "First Last" || len(a.Rules) != 3 || len(a.Contacts) != 3 {
			t.Fatalf("ada's plan: %+v", a)
		}
		got := a.ForAlert(alert.High)
		want := []contact.Delivery{
			{RuleID: mail.ID, Method: contact.Email, ContactID: email.ID, Target: "ada@work.example"},
			{RuleID: voice.ID, Method: contact.Voice, ContactID: phone.ID, Target: "+49301234567", Delay: 5 * time.Minute},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ForAlert(HIGH) = %+v\nwant %+v", got, want)
		}
		if got := a.ForAlert(alert.Low); len(got) != 0 {
			t.Fatalf("ForAlert(LOW) = %+v, want nothing: ada has alert rules, none for LOW", got)
		}
		upd := a.ForUpdate(contact.AlertResolved)
		if len(upd) != 1 || upd[0].RuleID != web.ID || upd[0].Secret != hook.Secret || upd[0].Secret == "" {
			t.Fatalf("ForUpdate(RESOLVED) = %+v, want the webhook with its secret", upd)
		}

		b := plan[bob.ID]
		if b.MutedUntil == nil || !b.MutedUntil.Equal(muted) {
			t.Fatalf("bob's mutedUntil = %v, want %v", b.MutedUntil, muted)
		}
		if got := b.ForAlert(alert.Low); !slices.Equal(got, []contact.Delivery{{Method: contact.Email, Target: "bob@example.com"}}) {
			t.Fatalf("bob without rules: %+v, want the default email to his account", got)
		}

		empty, err := db.NotificationPlan(ctx, nil)
		if err != nil || len(empty) != 0 {
			t.Fatalf("NotificationPlan(nil) = %v, %v", empty, err)
		}
	})
}
