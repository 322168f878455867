package e2e_test

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	printedEmail    = regexp.MustCompile(`(?m)^\s*email:\s+(\S+)\s*$`)
	printedPassword = regexp.MustCompile(`(?m)^\s*password:\s+(\S+)\s*$`)
)

// waitForOutput polls the process's stdout until re matches, since the output is copied
// from a pipe and may trail the process's own progress a little.
func waitForOutput(t *testing.T, p *process, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("stdout of %s does not match %s:\n%s", p.name, re, p.stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The first start on an empty database prints the administrator's email and a password once.
// With them an API key can be created, and that key identifies the administrator.
func TestFirstRunPrintsAdmin(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "first.db")
	const adminEmail = "ops@example.com"
	srv := startServe(t, dsn, "--admin-email", adminEmail)
	email := waitForOutput(t, srv, printedEmail)[1]
	password := waitForOutput(t, srv, printedPassword)[1]
	if email != adminEmail {
		t.Errorf("printed email %q, want %q (--admin-email)", email, adminEmail)
	}

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))
	var created struct {
		APIKey string `json:"apiKey"`
	}
	newClient(srv.URL, basic).call(t, "POST", "/api/api-keys", map[string]string{"name": "k"}, http.StatusCreated, &created)
	if created.APIKey == "" {
		t.Fatal(`POST /api/api-keys answered 201 without "apiKey"`)
	}
	me := newClient(srv.URL, bearer(created.APIKey)).currentUser(t)
	if me.Email != adminEmail || me.Role != "ADMIN" {
		t.Errorf("GET /api/users/current with the new key = %+v, want the ADMIN %s", me, adminEmail)
	}

	t.Run("WrongPasswordRefused", func(t *testing.T) {
		wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":not-"+password))
		if got, body := newClient(srv.URL, wrong).do(t, "POST", "/api/api-keys", map[string]string{"name": "k2"}); got != http.StatusUnauthorized {
			t.Errorf("POST /api/api-keys with a wrong password: status %d, want 401; body: %s", got, body)
		}
	})

	srv.stop()
	if n := len(printedPassword.FindAllString(srv.stdout.String(), -1)); n != 1 {
		t.Errorf("the first start printed %d password lines, want 1:\n%s", n, srv.stdout.String())
	}

	again := startServe(t, dsn, "--admin-email", adminEmail)
	if got := newClient(again.URL, bearer(created.APIKey)).currentUser(t); got.ID != me.ID {
		t.Errorf("after a restart the API key belongs to user %d, want %d", got.ID, me.ID)
	}
	again.stop() // waits for the output to be copied
	if out := again.stdout.String(); strings.Contains(out, "password") {
		t.Errorf("the second start on the same database printed a password:\n%s", out)
	}
}

// serve reads its flags from TOCSIN_* variables, and a command-line flag wins over them.
func TestEnvironmentFlags(t *testing.T) {
	t.Run("EnvOnly", func(t *testing.T) {
		addr := freeAddr(t)
		dbPath := filepath.Join(t.TempDir(), "from-env.db")
		p := start(t, childEnv("TOCSIN_ADDR="+addr, "TOCSIN_DB="+dbPath), "serve")
		p.URL = "http://" + addr
		p.waitReady()
		if _, err := os.Stat(dbPath); err != nil {
			t.Errorf("TOCSIN_DB=%s: the database file was not created: %v", dbPath, err)
		}
		if _, err := os.Stat(filepath.Join(p.cmd.Dir, "tocsin.db")); err == nil {
			t.Errorf("serve created the default ./tocsin.db although TOCSIN_DB was set")
		}
		p.stop()
	})

	t.Run("FlagWinsOverEnv", func(t *testing.T) {
		envAddr, flagAddr := freeAddr(t), freeAddr(t)
		dir := t.TempDir()
		envDB, flagDB := filepath.Join(dir, "env.db"), filepath.Join(dir, "flag.db")
		p := start(t, childEnv("TOCSIN_ADDR="+envAddr, "TOCSIN_DB="+envDB), "serve", "--addr", flagAddr, "--db", flagDB)
		p.URL = "http://" + flagAddr
		p.waitReady()
		if _, err := os.Stat(flagDB); err != nil {
			t.Errorf("--db %s: the database file was not created: %v", flagDB, err)
		}
		if _, err := os.Stat(envDB); err == nil {
			t.Errorf("TOCSIN_DB=%s was used although --db was given", envDB)
		}
		if resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + envAddr + "/readyz"); err == nil {
			resp.Body.Close()
			t.Errorf("tocsin also answers on TOCSIN_ADDR=%s although --addr was given", envAddr)
		}
		p.stop()
	})

	t.Run("BadEnvValueRejected", func(t *testing.T) {
		addr := freeAddr(t)
		p := start(t, childEnv("TOCSIN_ADDR="+addr, "TOCSIN_DB="+filepath.Join(t.TempDir(), "x.db"), "TOCSIN_EVENT_RATE=fast"), "serve")
		st := p.wait(exitTimeout)
		if st.ExitCode() == 0 {
			t.Fatalf("serve with TOCSIN_EVENT_RATE=fast exited 0")
		}
		if msg := p.stderr.String(); !strings.Contains(msg, "TOCSIN_EVENT_RATE") {
			t.Errorf("serve with TOCSIN_EVENT_RATE=fast: the error does not name the variable:\n%s", msg)
		}
	})
}
