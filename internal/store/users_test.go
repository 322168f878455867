package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// newAccount creates a user with the given email and role.
func newAccount(t *testing.T, db *store.DB, email string, role auth.Role) auth.Account {
	t.Helper()
	a := auth.Account{FirstName: "First", LastName: "Last", Email: email, Role: role}
	if err := db.CreateAccount(context.Background(), &a, ""); err != nil {
		t.Fatalf("CreateAccount(%s): %v", email, err)
	}
	return a
}

// newPolicyNaming creates an escalation policy with one level naming the given users and teams.
func newPolicyNaming(t *testing.T, db *store.DB, name string, userIDs, teamIDs []int64) escalation.Policy {
	t.Helper()
	r := escalation.Rule{EscalationTimeout: 5}
	for _, id := range userIDs {
		r.Users = append(r.Users, auth.Ref{ID: id})
	}
	for _, id := range teamIDs {
		r.Teams = append(r.Teams, auth.TeamRef{ID: id})
	}
	p := escalation.Policy{Name: name, EscalationRules: []escalation.Rule{r}}
	if err := db.CreatePolicy(context.Background(), &p); err != nil {
		t.Fatalf("CreatePolicy(%s): %v", name, err)
	}
	return p
}

func requireCode(t *testing.T, err error, code fault.Code) {
	t.Helper()
	if got := fault.CodeOf(err); err == nil || got != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

func countUsers(t *testing.T, db *store.DB) int {
	t.Helper()
	n, err := db.CountAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAccounts(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2025, 3, 1, 12, 0, 0, 123e6, time.UTC)
		db.Now = func() time.Time { return now }

		a := auth.Account{FirstName: " Ada ", LastName: "Lovelace", Email: "Ada@Example.com", Username: "ada",
			Timezone: "Europe/Berlin", Language: "EN", Region: "gb", Role: "responder"}
		if err := db.CreateAccount(ctx, &a, ""); err != nil {
			t.Fatal(err)
		}
		if a.ID <= 0 || a.FirstName != "Ada" || a.Role != auth.Responder || a.Language != "en" || a.Region != "GB" {
			t.Fatalf("created account = %+v", a)
		}

		t.Run("ByIDAndRef", func(t *testing.T) {
			got, err := db.Account(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got != a {
				t.Fatalf("Account = %+v, want %+v", got, a)
			}
			if !got.CreatedAt.Equal(now) || !got.UpdatedAt.Equal(now) {
				t.Fatalf("timestamps = %v, %v, want %v", got.CreatedAt, got.UpdatedAt, now)
			}
			for _, ref := range []string{"ada", "1"} {
				got, err := db.AccountByRef(ctx, ref)
				if err != nil || got.ID != a.ID {
					t.Fatalf("AccountByRef(%q) = %d, %v, want %d", ref, got.ID, err, a.ID)
				}
			}
			_, err = db.AccountByRef(ctx, "nobody")
			requireCode(t, err, fault.NotFound)
			_, err = db.Account(ctx, 999)
			requireCode(t, err, fault.NotFound)
		})

		t.Run("ByEmailIgnoresCase", func(t *testing.T) {
			got, _, err := db.AccountByEmail(ctx, "  ada@EXAMPLE.com")
			if err != nil || got.ID != a.ID {
				t.Fatalf("AccountByEmail = %d, %v", got.ID, err)
			}
		})

		t.Run("ErrDuplicate", func(t *testing.T) {
			dup := auth.Account{FirstName: "B", LastName: "B", Email: "ada@example.COM"}
			err := db.CreateAccount(ctx, &dup, "")
			requireCode(t, err, fault.Conflict)
			if !strings.Contains(fault.MessageOf(err), "email") {
				t.Errorf("message %q does not name the email", fault.MessageOf(err))
			}
			dup = auth.Account{FirstName: "B", LastName: "B", Email: "b@example.com", Username: "ada"}
			err = db.CreateAccount(ctx, &dup, "")
			requireCode(t, err, fault.Conflict)
			if !strings.Contains(fault.MessageOf(err), "username") {
				t.Errorf("message %q does not name the username", fault.MessageOf(err))
			}
			if n := countUsers(t, db); n != 1 {
				t.Fatalf("%d users after refused creates, want 1", n)
			}
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			for name, a := range map[string]auth.Account{
				"NoFirstName":     {LastName: "L", Email: "x@example.com"},
				"BadEmail":        {FirstName: "F", LastName: "L", Email: "not an email"},
				"BadRole":         {FirstName: "F", LastName: "L", Email: "x@example.com", Role: "BOSS"},
				"NumericUsername": {FirstName: "F", LastName: "L", Email: "x@example.com", Username: "42"},
				"ReservedName":    {FirstName: "F", LastName: "L", Email: "x@example.com", Username: "current"},
			} {
				t.Run(name, func(t *testing.T) {
					requireCode(t, db.CreateAccount(ctx, &a, ""), fault.Invalid)
				})
			}
			if n := countUsers(t, db); n != 1 {
				t.Fatalf("%d users after refused creates, want 1", n)
			}
		})
	})
}

func TestListAccounts(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var ids []int64
		for _, e := range []string{"c@x.io", "a@x.io", "b@x.io"} {
			ids = append(ids, newAccount(t, db, e, auth.User).ID)
		}
		got, err := db.ListAccounts(ctx, store.Page{Start: 1, Max: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != ids[1] || got[1].ID != ids[2] {
			t.Fatalf("page = %+v, want ids %v", got, ids[1:])
		}
		got, err = db.ListAccounts(ctx, store.Page{Start: 10, Max: 5})
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("empty page = %#v, %v; want an empty, non-nil slice", got, err)
		}
	})
}

func TestUpdateAccount(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return created }
		admin := newAccount(t, db, "admin@x.io", auth.Admin)
		user := newAccount(t, db, "user@x.io", auth.User)
		later := created.Add(time.Hour)
		db.Now = func() time.Time { return later }

		t.Run("OK", func(t *testing.T) {
			u := auth.Account{ID: user.ID, FirstName: "New", LastName: "Name", Email: "new@x.io", Username: "nn",
				Position: "SRE", Role: auth.Stakeholder}
			if err := db.UpdateAccount(ctx, &u); err != nil {
				t.Fatal(err)
			}
			got, err := db.Account(ctx, user.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got != u || got.Email != "new@x.io" || got.Position != "SRE" || got.Role != auth.Stakeholder {
				t.Fatalf("after update = %+v, returned %+v", got, u)
			}
			if !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(later) {
				t.Fatalf("timestamps = %v, %v", got.CreatedAt, got.UpdatedAt)
			}
			if _, _, err := db.AccountByEmail(ctx, "user@x.io"); !fault.Is(err, fault.NotFound) {
				t.Fatalf("old email still finds the user: %v", err)
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			u := auth.Account{ID: 999, FirstName: "F", LastName: "L", Email: "z@x.io"}
			requireCode(t, db.UpdateAccount(ctx, &u), fault.NotFound)
		})

		t.Run("ErrEmailTaken", func(t *testing.T) {
			u := auth.Account{ID: user.ID, FirstName: "F", LastName: "L", Email: "ADMIN@x.io"}
			requireCode(t, db.UpdateAccount(ctx, &u), fault.Conflict)
		})

		t.Run("ErrLastAdmin", func(t *testing.T) {
			u := admin
			u.Role = auth.User
			requireCode(t, db.UpdateAccount(ctx, &u), fault.Invalid)
			if got, _ := db.Account(ctx, admin.ID); got.Role != auth.Admin {
				t.Fatalf("the last admin was demoted to %s", got.Role)
			}
		})

		t.Run("DemoteWithAnotherAdmin", func(t *testing.T) {
			other := newAccount(t, db, "admin2@x.io", auth.Admin)
			u := admin
			u.Role = auth.User
			if err := db.UpdateAccount(ctx, &u); err != nil {
				t.Fatal(err)
			}
			u = other
			u.Role = auth.User
			requireCode(t, db.UpdateAccount(ctx, &u), fault.Invalid)
		})
	})
}

func TestDeleteAccount(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		admin := newAccount(t, db, "admin@x.io", auth.Admin)
		user := newAccount(t, db, "user@x.io", auth.User)

		t.Run("ErrNotFound", func(t *testing.T) {
			requireCode(t, db.DeleteAccount(ctx, 999), fault.NotFound)
		})

		t.Run("ErrLastAdmin", func(t *testing.T) {
			requireCode(t, db.DeleteAccount(ctx, admin.ID), fault.Invalid)
			if _, err := db.Account(ctx, admin.ID); err != nil {
				t.Fatalf("the last admin is gone: %v", err)
			}
		})

		t.Run("ErrOnEscalationLevel", func(t *testing.T) {
			p := newPolicyNaming(t, db, "Primary on-call", []int64{user.ID}, nil)
			err := db.DeleteAccount(ctx, user.ID)
			requireCode(t, err, fault.Invalid)
			if msg := fault.MessageOf(err); !strings.Contains(msg, "Primary on-call") {
				t.Errorf("message %q does not name the policy", msg)
			}
			if _, err := db.Account(ctx, user.ID); err != nil {
				t.Fatalf("user deleted despite the policy: %v", err)
			}
			if err := db.DeletePolicy(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("OK", func(t *testing.T) {
			_, secret, err := db.CreateAPIKey(ctx, user.ID, "ci")
			if err != nil {
				t.Fatal(err)
			}
			team := auth.Team{Name: "ops", Members: []auth.TeamMember{{User: auth.Account{ID: user.ID}}, {User: auth.Account{ID: admin.ID}}}}
			if err := db.CreateTeam(ctx, nil, &team); err != nil {
				t.Fatal(err)
			}
			if err := db.DeleteAccount(ctx, user.ID); err != nil {
				t.Fatal(err)
			}
			_, err = db.Account(ctx, user.ID)
			requireCode(t, err, fault.NotFound)
			_, err = db.AccountByAPIKey(ctx, auth.HashAPIKey(secret))
			requireCode(t, err, fault.NotFound)
			got, err := db.Team(ctx, nil, team.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Members) != 1 || got.Members[0].User.ID != admin.ID {
				t.Fatalf("members after deleting a user = %+v", got.Members)
			}
		})
	})
}

func TestAPIKeys(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2025, 5, 5, 5, 5, 5, 0, time.UTC)
		db.Now = func() time.Time { return now }
		a := newAccount(t, db, "a@x.io", auth.User)
		b := newAccount(t, db, "b@x.io", auth.User)

		k1, secret1, err := db.CreateAPIKey(ctx, a.ID, "  laptop ")
		if err != nil {
			t.Fatal(err)
		}
		if k1.Name != "laptop" || k1.UserID != a.ID || !strings.HasPrefix(secret1, k1.Prefix) || !k1.CreatedAt.Equal(now) {
			t.Fatalf("key = %+v (secret prefix %q)", k1, secret1[:10])
		}
		k2, _, err := db.CreateAPIKey(ctx, a.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.CreateAPIKey(ctx, b.ID, "b's key"); err != nil {
			t.Fatal(err)
		}

		t.Run("ErrUnknownUser", func(t *testing.T) {
			_, _, err := db.CreateAPIKey(ctx, 999, "x")
			requireCode(t, err, fault.NotFound)
		})

		t.Run("ListOwnKeysOnly", func(t *testing.T) {
			keys, err := db.ListAPIKeys(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || keys[0].ID != k1.ID || keys[1].ID != k2.ID || keys[1].Name != "API key" {
				t.Fatalf("keys = %+v", keys)
			}
		})

		t.Run("RecordsUse", func(t *testing.T) {
			got, err := db.AccountByAPIKey(ctx, auth.HashAPIKey(secret1))
			if err != nil || got.ID != a.ID {
				t.Fatalf("AccountByAPIKey = %d, %v", got.ID, err)
			}
			k, err := db.APIKey(ctx, k1.ID)
			if err != nil || k.LastUsedAt == nil || !k.LastUsedAt.Equal(now) {
				t.Fatalf("APIKey = %+v, %v; want lastUsedAt %v", k, err, now)
			}
		})

		t.Run("Revoke", func(t *testing.T) {
			if err := db.RevokeAPIKey(ctx, k1.ID); err != nil {
				t.Fatal(err)
			}
			_, err := db.AccountByAPIKey(ctx, auth.HashAPIKey(secret1))
			requireCode(t, err, fault.NotFound)
			requireCode(t, db.RevokeAPIKey(ctx, k1.ID), fault.NotFound)
			requireCode(t, db.RevokeAPIKey(ctx, 999), fault.NotFound)
			keys, err := db.ListAPIKeys(ctx, a.ID)
			if err != nil || len(keys) != 1 || keys[0].ID != k2.ID {
				t.Fatalf("keys after revoking = %+v, %v", keys, err)
			}
			k, err := db.APIKey(ctx, k1.ID)
			if err != nil || k.RevokedAt == nil {
				t.Fatalf("revoked key = %+v, %v", k, err)
			}
		})
	})
}

// Two ADMINs removed at the same moment must not leave the instance without one.
func TestLastAdminConcurrent(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		survivor := newAccount(t, db, "first@x.io", auth.Admin)
		for round := range 10 {
			// Exactly two ADMINs: remove both at once, one by deletion and one by demotion.
			other := newAccount(t, db, fmt.Sprintf("admin%d@x.io", round), auth.Admin)
			a, b := survivor, other
			if round%2 == 1 {
				a, b = b, a
			}
			errs := make(chan error, 2)
			go func() { errs <- db.DeleteAccount(ctx, a.ID) }()
			go func() {
				u := b
				u.Role = auth.Responder
				errs <- db.UpdateAccount(ctx, &u)
			}()
			var failed int
			for range 2 {
				if err := <-errs; err != nil {
					requireCode(t, err, fault.Invalid)
					failed++
				}
			}
			if failed != 1 {
				t.Fatalf("round %d: %d of 2 removals failed, want exactly 1", round, failed)
			}
			if got, err := db.Account(ctx, a.ID); err == nil && got.Role == auth.Admin {
				survivor = got
			} else {
				survivor = b
			}
			if got, err := db.Account(ctx, survivor.ID); err != nil || got.Role != auth.Admin {
				t.Fatalf("round %d: no ADMIN left: %+v, %v", round, got, err)
			}
		}
	})
}
