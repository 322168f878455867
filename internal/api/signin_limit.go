package api

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// Limits on Basic sign-ins, each of which costs an argon2id check (about 0.35 s of CPU and
// 64 MiB). They hold per process: with several replicas a client may get n times as much.
const (
	signInRate    = 1      // password checks a second per client address, once its burst is spent
	signInBurst   = 10     // password checks a client address may make at once
	failureRate   = 0.1    // failed checks a second per login (one every 10 s), once its burst is spent
	failureBurst  = 10     // failed checks a login may take at once
	signInKeysMax = 10_000 // addresses, and logins, each limiter remembers
	signInSlots   = 2      // argon2id checks running at once
	signInWait    = time.Second
	loginKeyMax   = 256 // bytes of a login the failure limiter keeps, so long logins cannot fill memory
)

// signIns limits the Basic sign-ins of the process.
var signIns = newSignInLimits()

// signInLimits turns a sign-in away before its password is checked when its client address
// has made too many checks, when its login has failed too often (whatever the address), or
// when all check slots stay busy for longer than wait.
type signInLimits struct {
	clients *boundedLimiter // every password check, by client address
	logins  *boundedLimiter // failed password checks, by loginKey
	slots   chan struct{}   // the checks running
	wait    time.Duration   // how long a sign-in waits for a slot
	now     func() time.Time
}

func newSignInLimits() *signInLimits {
	return &signInLimits{
		clients: newBoundedLimiter(signInRate, signInBurst, signInKeysMax),
		logins:  newBoundedLimiter(failureRate, failureBurst, signInKeysMax),
		slots:   make(chan struct{}, signInSlots),
		wait:    signInWait,
		now:     time.Now,
	}
}

// begin takes a check slot for a sign-in to login from client, or says why not. It also takes
// the login's token for a failure up front, so that sign-ins running at once cannot all pass
// on one token; end gives it back when the password was right. A sign-in that begins must end
// with what begin returned.
func (l *signInLimits) begin(ctx context.Context, client, login string) (*rate.Reservation, error) {
	now := l.now()
	if ok, wait := l.clients.take(client, now); !ok {
		return nil, refuse(fault.RateLimited, wait, "too many sign-ins from this address")
	}
	failure, wait := l.logins.reserve(login, now)
	if wait > 0 {
		return nil, refuse(fault.RateLimited, wait, "too many failed sign-ins for this login")
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return failure, nil
	case <-t.C:
		failure.CancelAt(l.now())
		return nil, refuse(fault.Unavailable, time.Second, "too many sign-ins at once")
	case <-ctx.Done():
		failure.CancelAt(l.now())
		return nil, ctx.Err()
	}
}

// end frees the slot of a sign-in, and gives its login's token back unless the password was
// wrong.
func (l *signInLimits) end(failure *rate.Reservation, failed bool) {
	<-l.slots
	if !failed {
		failure.CancelAt(l.now())
	}
}

// refusal is a sign-in turned away without checking its password; RetryAfter is for the
// Retry-After header.
type refusal struct {
	err   *fault.Error
	after time.Duration
}

func (e *refusal) Error() string             { return e.err.Error() }
func (e *refusal) Unwrap() error             { return e.err }
func (e *refusal) RetryAfter() time.Duration { return e.after }

// refuse returns a refusal with code that asks to retry after wait, in whole seconds.
func refuse(code fault.Code, wait time.Duration, why string) error {
	wait = wholeSeconds(wait)
	return &refusal{err: fault.New(code, "%s; retry in %s, or use an API key", why, wait), after: wait}
}

// clientAddr is the address a sign-in counts against: the connection's peer, as tocsin has no
// trusted-proxy setting to believe X-Forwarded-For by (behind a reverse proxy, all clients
// share the proxy's address). An IPv6 client counts by its /64, which one host usually holds.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// loginKey is the login a failure counts against: lower-cased and trimmed, as emails are
// looked up, and without the "@organisation" suffix, so that spellings of one login share it.
func loginKey(login string) string {
	k := strings.ToLower(login)
	if strings.Count(k, "@") > 1 {
		k = k[:strings.LastIndex(k, "@")]
	}
	k = strings.TrimSpace(k)
	return k[:min(len(k), loginKeyMax)]
}
