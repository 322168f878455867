package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

const adaPassword = "correct horse battery"

// signInServer serves the API on a fresh SQLite database with one user, ada@example.com,
// whose password hash is cheap to check. The process's sign-in limits are l until the test ends.
func signInServer(t *testing.T, l *signInLimits) *Server {
	t.Helper()
	db := storetest.MustOpen(t, storetest.SQLiteDSN(t))
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(adaPassword), salt, 1, 64, 1, 32)
	hash := fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	ada := auth.Account{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Role: auth.Responder}
	if err := db.CreateAccount(context.Background(), &ada, hash); err != nil {
		t.Fatal(err)
	}
	saved := signIns
	signIns = l
	t.Cleanup(func() { signIns = saved })
	return New(Options{Store: db, Log: slog.New(slog.DiscardHandler)})
}

// testLimits are the default limits with other bursts, on the clock *now.
func testLimits(now *time.Time, clientBurst, failureBurst int) *signInLimits {
	l := newSignInLimits()
	l.clients = newBoundedLimiter(signInRate, clientBurst, signInKeysMax)
	l.logins = newBoundedLimiter(failureRate, failureBurst, signInKeysMax)
	l.now = func() time.Time { return *now }
	return l
}

func basicRequest(addr, login, password string) *http.Request {
	r := httptest.NewRequest("GET", "/api/users/current", nil)
	r.RemoteAddr = addr
	r.SetBasicAuth(login, password)
	return r
}

// signInFrom signs in from addr and returns the status and, for an error, its code.
func signInFrom(t *testing.T, srv *Server, addr, login, password string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, basicRequest(addr, login, password))
	var e errorBody
	if w.Code != http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Status != w.Code {
			t.Fatalf("status %d with body %s, want the error envelope", w.Code, w.Body)
		}
	}
	return w.Code, e.Code
}

func wantSignIn(t *testing.T, srv *Server, addr, login, password string, status int, code string) {
	t.Helper()
	if got, gotCode := signInFrom(t, srv, addr, login, password); got != status || gotCode != code {
		t.Fatalf("%s as %q from %s: %d %s, want %d %s", password, login, addr, got, gotCode, status, code)
	}
}

func TestSignInLimitPerClient(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := testLimits(&now, 3, 100)
	l.wait = 10 * time.Millisecond
	srv := signInServer(t, l)
	for i := range 3 {
		wantSignIn(t, srv, fmt.Sprintf("192.0.2.1:%d", 1000+i), "ada@example.com", "guess", 401, "UNAUTHORIZED")
	}

	// Over its limit, the address is turned away before any check: with every slot taken, a
	// sign-in that got as far as waiting for one would answer 503.
	for range cap(l.slots) {
		l.slots <- struct{}{}
	}
	start := time.Now()
	for i := range 20 {
		wantSignIn(t, srv, "192.0.2.1:2000", fmt.Sprintf("x%d@nowhere", i), "guess", 429, "RATE_LIMITED")
	}
	wantSignIn(t, srv, "192.0.2.1:2001", "ada@example.com", adaPassword, 429, "RATE_LIMITED")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("21 refusals took %s", d)
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, basicRequest("192.0.2.1:2002", "ada@example.com", adaPassword))
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("refusal %d with Retry-After %q, want 429 and 1", w.Code, w.Header().Get("Retry-After"))
	}

	// Another address waits briefly for a slot, and is told to retry.
	start = time.Now()
	wantSignIn(t, srv, "192.0.2.2:1000", "ada@example.com", adaPassword, 503, "UNAVAILABLE")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a busy refusal took %s", d)
	}
	for range cap(l.slots) {
		<-l.slots
	}
	wantSignIn(t, srv, "192.0.2.2:1000", "ada@example.com", adaPassword, 200, "")
	wantSignIn(t, srv, "192.0.2.1:2003", "ada@example.com", adaPassword, 429, "RATE_LIMITED")
	now = now.Add(time.Second) // signInRate
	wantSignIn(t, srv, "192.0.2.1:2003", "ada@example.com", adaPassword, 200, "")
}

func TestSignInLimitPerLogin(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := testLimits(&now, 100, 3)
	srv := signInServer(t, l)
	n := 0
	next := func() string { n++; return fmt.Sprintf("198.51.100.%d:4000", n) }
	for _, login := range []string{"ada@example.com", " ADA@Example.com", "ada@example.com@acme"} {
		wantSignIn(t, srv, next(), login, "guess", 401, "UNAUTHORIZED")
	}

	// The login has failed three times: it is refused from any address, even with the right
	// password, while other logins are not held up.
	wantSignIn(t, srv, next(), "ada@example.com", "guess", 429, "RATE_LIMITED")
	wantSignIn(t, srv, next(), "Ada@example.com@other", adaPassword, 429, "RATE_LIMITED")
	wantSignIn(t, srv, next(), "bob@example.com", "guess", 401, "UNAUTHORIZED")

	// A failure is forgotten after 10 s (failureRate).
	now = now.Add(9 * time.Second)
	wantSignIn(t, srv, next(), "ada@example.com", adaPassword, 429, "RATE_LIMITED")
	now = now.Add(time.Second)
	wantSignIn(t, srv, next(), "ada@example.com", adaPassword, 200, "")
}

// Sign-ins to one login running at once each take a failure's token before their check, so
// they cannot all pass on the one token left.
func TestSignInLimitPerLoginAtOnce(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := testLimits(&now, 100, 1)
	first, err := l.begin(context.Background(), "192.0.2.1", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.begin(context.Background(), "192.0.2.2", "ada@example.com"); !fault.Is(err, fault.RateLimited) {
		t.Fatalf("a second sign-in while the first is checked: %v, want RATE_LIMITED", err)
	}
	l.end(first, false) // the right password: the token comes back
	second, err := l.begin(context.Background(), "192.0.2.3", "ada@example.com")
	if err != nil {
		t.Fatalf("after a right password: %v", err)
	}
	l.end(second, true) // a wrong one: the token is spent
	if _, err := l.begin(context.Background(), "192.0.2.4", "ada@example.com"); !fault.Is(err, fault.RateLimited) {
		t.Fatalf("after a failure: %v, want RATE_LIMITED", err)
	}
}

func TestSignInLimitBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := testLimits(&now, 1, 1)
	l.clients.max = 50
	srv := signInServer(t, l)
	for i := range 300 {
		wantSignIn(t, srv, fmt.Sprintf("10.0.%d.%d:80", i/256, i%256), "ada@example.com", adaPassword, 200, "")
		if len(l.clients.keys) > 50 {
			t.Fatalf("after %d addresses the limiter holds %d", i+1, len(l.clients.keys))
		}
	}

	// Once their buckets have refilled, the addresses are forgotten for a new one.
	b := newBoundedLimiter(1, 2, 100)
	for i := range 1000 {
		b.take(fmt.Sprint(i), now)
	}
	if len(b.keys) != 100 {
		t.Fatalf("the limiter holds %d keys, want 100", len(b.keys))
	}
	if ok, _ := b.take("new", now.Add(2*time.Second)); !ok || len(b.keys) != 1 {
		t.Fatalf("after refilling the limiter holds %d keys, want 1", len(b.keys))
	}
}

func TestSignInKeys(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:1234":             "192.0.2.1",
		"[::ffff:192.0.2.1]:1234":    "192.0.2.1",
		"[2001:db8:1:2:3::4]:1234":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::]:5678": "2001:db8:1:2::/64",
		"@":                          "@",
	} {
		if got := clientAddr(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", addr, got, want)
		}
	}
	for login, want := range map[string]string{
		" Ada@Example.com ":    "ada@example.com",
		"ada@example.com@Acme": "ada@example.com",
		"ada":                  "ada",
	} {
		if got := loginKey(login); got != want {
			t.Errorf("loginKey(%q) = %q, want %q", login, got, want)
		}
	}
	if got := loginKey(string(make([]byte, 10_000))); len(got) != loginKeyMax {
		t.Errorf("a 10,000-byte login is kept as %d bytes", len(got))
	}
}
