package api

import (
	"context"
	"net/http"
	"strings"
	"sync"

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
		return s.signIn(r.Context(), clientAddr(r), login, password)
	}
	return auth.Account{}, fault.New(fault.Unauthorized, "unsupported Authorization scheme: use Bearer <API key>")
}

// dummyHash is checked when the login is unknown, so a wrong email costs as long as a wrong
// password and the timing does not tell which emails exist.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword(auth.RandomToken(16))
	return h
})

// signIn checks an email and password from the client address client, within the limits of
// signIns (see signin_limit.go); refusals are logged at debug level, as they are no fault.
func (s *Server) signIn(ctx context.Context, client, login, password string) (a auth.Account, err error) {
	l, key := signIns, loginKey(login)
	failure, err := l.begin(ctx, client, key)
	if err != nil {
		s.log.DebugContext(ctx, "sign-in refused", "client", client, "err", err)
		return auth.Account{}, err
	}
	defer func() { l.end(failure, fault.Is(err, fault.Unauthorized)) }()
	return s.checkPassword(ctx, login, password)
}

// checkPassword checks an email and password. ilert clients send "user@organisation"; the
// organisation suffix is tried off when the whole login is not a known email.
func (s *Server) checkPassword(ctx context.Context, login, password string) (auth.Account, error) {
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
