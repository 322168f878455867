package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
)

func TestPasswords(t *testing.T) {
	hash, err := auth.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$") {
		t.Fatalf("hash %q is not argon2id in PHC form", hash)
	}
	if !auth.VerifyPassword(hash, "correct horse battery staple") {
		t.Fatal("the right password was refused")
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple"} {
		if auth.VerifyPassword(hash, wrong) {
			t.Fatalf("wrong password %q accepted", wrong)
		}
	}
	if again, _ := auth.HashPassword("correct horse battery staple"); again == hash {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, bad := range []string{"short", strings.Repeat("x", 257)} {
		if _, err := auth.HashPassword(bad); err == nil {
			t.Fatalf("password of %d characters accepted", len(bad))
		}
	}
	if auth.VerifyPassword("$argon2id$v=19$m=1,t=1,p=1$$", "x") || auth.VerifyPassword("plain", "plain") {
		t.Fatal("a malformed hash verified")
	}
}

func TestAPIKeySecrets(t *testing.T) {
	secret, prefix, hash := auth.NewAPIKeySecret()
	if !strings.HasPrefix(secret, prefix) || len(secret) < 40 {
		t.Fatalf("secret %q, prefix %q", secret, prefix)
	}
	if hash != auth.HashAPIKey(secret) || strings.Contains(hash, secret) {
		t.Fatal("the stored hash must be derived from, and not contain, the secret")
	}
	other, _, _ := auth.NewAPIKeySecret()
	if other == secret {
		t.Fatal("two secrets are equal")
	}
}

func TestRoleAllows(t *testing.T) {
	perms := []auth.Permission{auth.ReadSelf, auth.Read, auth.Respond, auth.Configure, auth.Administer}
	want := map[auth.Role]int{auth.Guest: 1, auth.Stakeholder: 2, auth.Responder: 3, auth.User: 4, auth.Admin: 5}
	for role, n := range want {
		for i, p := range perms {
			if got := role.Allows(p); got != (i < n) {
				t.Errorf("%s allows permission %d: %v, want %v", role, i, got, i < n)
			}
		}
	}
	if auth.Role("ROOT").Allows(auth.ReadSelf) {
		t.Error("an unknown role must grant nothing")
	}
}

func TestLinks(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	l := auth.Link{AlertID: 42, NotificationID: 7, Action: auth.LinkAccept, Expires: now.Add(time.Hour)}
	token := auth.SignLink(key, l)
	got, err := auth.ParseLink(key, token, now)
	if err != nil || got.AlertID != 42 || got.NotificationID != 7 || got.Action != auth.LinkAccept {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := auth.ParseLink(key, token, now.Add(time.Hour)); err == nil {
		t.Fatal("an expired link was accepted")
	}
	if _, err := auth.ParseLink([]byte("another key, another server....."), token, now); err == nil {
		t.Fatal("a link signed with another key was accepted")
	}
	// Changing any field breaks the signature: another alert, or resolve instead of accept.
	for _, forged := range []string{
		strings.Replace(token, "v1.42.", "v1.43.", 1),
		strings.Replace(token, ".accept.", ".resolve.", 1),
		token[:len(token)-2],
		"",
		"v1.42.7.accept",
	} {
		if _, err := auth.ParseLink(key, forged, now); err == nil {
			t.Fatalf("forged token %q accepted", forged)
		}
	}
}
