package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// `tocsin user create` prints only the API key on stdout, so scripts can capture it, and
// refuses bad input with a non-zero exit and a message that says what is wrong.
func TestCLIUserCreate(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "cli.db")
	create := func(t *testing.T, email, role string, extra ...string) cliResult {
		t.Helper()
		args := append([]string{"user", "create", "--db", dsn, "--email", email, "--first-name", "Grace", "--last-name", "Hopper", "--role", role}, extra...)
		return runCLI(t, args...)
	}

	t.Run("APIKeyIsTheOnlyLine", func(t *testing.T) {
		r := create(t, "grace@example.com", "ADMIN", "--api-key")
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstderr: %s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 1 || strings.TrimSpace(lines[0]) == "" || strings.ContainsAny(lines[0], " \t") {
			t.Fatalf("stdout = %q, want exactly one line holding the API key", r.stdout)
		}
		if !strings.HasSuffix(r.stdout, "\n") {
			t.Errorf("stdout = %q, want the line to end with a newline", r.stdout)
		}

		srv := startServe(t, dsn)
		me := newClient(srv.URL, bearer(lines[0])).currentUser(t)
		if me.Email != "grace@example.com" || me.Role != "ADMIN" {
			t.Errorf("GET /api/users/current with the printed key = %+v, want the ADMIN grace@example.com", me)
		}

		// On SQLite the command may run beside a serving tocsin, as its first-run message suggests.
		key := createUserWithKey(t, dsn, "second@example.com", "RESPONDER")
		if got := newClient(srv.URL, bearer(key)).currentUser(t); got.Email != "second@example.com" || got.Role != "RESPONDER" {
			t.Errorf("a key created while tocsin serves identifies %+v, want the RESPONDER second@example.com", got)
		}
		srv.stop()
	})

	t.Run("ErrBadRole", func(t *testing.T) {
		r := create(t, "wizard@example.com", "WIZARD", "--api-key")
		if r.code == 0 {
			t.Fatalf("--role WIZARD exited 0; stdout: %q", r.stdout)
		}
		if !strings.Contains(r.stderr, "WIZARD") || !strings.Contains(r.stderr, "ADMIN") {
			t.Errorf("--role WIZARD: stderr %q should name the bad role and the valid ones", r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("--role WIZARD printed %q on stdout, want nothing", r.stdout)
		}
	})

	t.Run("ErrDuplicateEmail", func(t *testing.T) {
		if r := create(t, "twice@example.com", "USER"); r.code != 0 {
			t.Fatalf("first user create exited %d: %s", r.code, r.stderr)
		}
		r := create(t, "TWICE@example.com", "USER", "--api-key")
		if r.code == 0 {
			t.Fatalf("a second user with the same email (other case) was created; stdout: %q", r.stdout)
		}
		if !strings.Contains(strings.ToLower(r.stderr), "twice@example.com") || !strings.Contains(r.stderr, "exists") {
			t.Errorf("duplicate email: stderr %q should say the email already exists", r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("duplicate email printed %q on stdout, want no API key", r.stdout)
		}
	})

	t.Run("ErrMissingEmail", func(t *testing.T) {
		r := runCLI(t, "user", "create", "--db", dsn, "--first-name", "No", "--last-name", "Email")
		if r.code == 0 {
			t.Fatalf("user create without --email exited 0; stdout: %q", r.stdout)
		}
		if !strings.Contains(strings.ToLower(r.stderr), "email") {
			t.Errorf("user create without --email: stderr %q should mention the email", r.stderr)
		}
	})
}
