package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

type callerKey struct{}

// callerOf returns the authenticated account of a request that passed handle.
func callerOf(r *http.Request) auth.Account {
	c, _ := r.Context().Value(callerKey{}).(auth.Account)
	return c
}

// authenticate identifies the caller by `Authorization: Bearer <API key>`, or by ilert's
// legacy Basic scheme with an email (optionally suffixed "@organisation") and password.
func (s *Server) authenticate(r *http.Request) (auth.Account, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return auth.Account{}, fault.New(fault.Unauthorized, "an API key is required: send Authorization: Bearer <key>")
	}
	if scheme, secret, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		a, err := s.store.AccountByAPIKey(r.Context(), auth.HashAPIKey(strings.TrimSpace(secret)))
		if fault.Is(err, fault.NotFound) {
			return auth.Account{}, fault.New(fault.Unauthorized, "the API key is unknown or revoked")
		}
		return a, err
	}
	if login, password, ok := r.BasicAuth(); ok {
		return s.signIn(r.Context(), login, password)
	}
	return auth.Account{}, fault.New(fault.Unauthorized, "unsupported Authorization scheme: use Bearer <API key>")
}

// passwordChecks bounds the argon2id checks running at once: each takes about 64 MiB and
// tens of milliseconds, so unbounded guessing would exhaust memory and starve event ingestion.
var passwordChecks = make(chan struct{}, 2)

// dummyHash is checked when the login is unknown, so a wrong email costs as long as a wrong
// password and the timing does not tell which emails exist.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword(auth.RandomToken(16))
	return h
})

// signIn checks an email and password. ilert clients send "user@organisation"; the
// organisation suffix is tried off when the whole login is not a known email.
func (s *Server) signIn(ctx context.Context, login, password string) (auth.Account, error) {
	select {
	case passwordChecks <- struct{}{}:
		defer func() { <-passwordChecks }()
	case <-time.After(5 * time.Second):
		return auth.Account{}, fault.New(fault.Unavailable, "too many sign-ins at once; retry, or use an API key")
	case <-ctx.Done():
		return auth.Account{}, ctx.Err()
	}
	candidates := []string{login}
	if i := strings.LastIndex(login, "@"); i > 0 && strings.Count(login, "@") > 1 {
		candidates = append(candidates, login[:i])
	}
	for _, email := range candidates {
		a, hash, err := s.store.AccountByEmail(ctx, email)
		if fault.Is(err, fault.NotFound) {
			continue
		}
		if err != nil {
			return auth.Account{}, err
		}
		if hash == "" { // the user has no password: cost the same as a wrong one
			hash = dummyHash()
		}
		if auth.VerifyPassword(hash, password) && hash != dummyHash() {
			return a, nil
		}
		return auth.Account{}, fault.New(fault.Unauthorized, "wrong email or password")
	}
	auth.VerifyPassword(dummyHash(), password)
	return auth.Account{}, fault.New(fault.Unauthorized, "wrong email or password")
}
