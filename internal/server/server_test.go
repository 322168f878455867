package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/config"
	"github.com/tocsinhq/tocsin/internal/server"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func serveConfig(t *testing.T, dsn string) *config.Serve {
	t.Helper()
	c := config.Defaults()
	c.Addr, c.DB, c.EventRate, c.ShutdownTimeout = "127.0.0.1:0", dsn, 0, 5*time.Second
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// Replicas starting together on one empty, migrated database: all start, one administrator
// is created, and its password is printed once.
func TestReplicasBootstrapTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		storetest.MustOpen(t, dsn) // migrated, no users
		const n = 3
		outs := make([]bytes.Buffer, n)
		servers := make([]*server.Server, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				servers[i], errs[i] = server.Start(context.Background(), serveConfig(t, dsn), slog.New(slog.NewTextHandler(io.Discard, nil)), &outs[i])
			})
		}
		wg.Wait()
		printed := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("replica %d did not start: %v", i, errs[i])
			}
			defer servers[i].Shutdown(context.Background())
			if strings.Contains(outs[i].String(), "password:") {
				printed++
			}
		}
		if printed != 1 {
			t.Fatalf("the first administrator's password was printed %d times, want once", printed)
		}
		if got, _ := servers[0].DB.CountAccounts(context.Background()); got != 1 {
			t.Fatalf("%d users, want one administrator", got)
		}
	})
}

func TestFirstRunHidesDatabasePassword(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	withPassword := strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:s3cret-pw@", 1)
	var out bytes.Buffer
	s, err := server.Start(context.Background(), serveConfig(t, withPassword), slog.New(slog.NewTextHandler(io.Discard, nil)), &out)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if strings.Contains(out.String(), "s3cret-pw") || !strings.Contains(out.String(), "password:") {
		t.Fatalf("first-run message:\n%s", out.String())
	}
}

// A start that fails on its settings, or on its address, creates no administrator: the
// password would be shown once, by a start that then stopped, and be lost.
func TestFailedStartCreatesNoAdministrator(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for name, spoil := range map[string]func(*config.Serve){
		"settings": func(c *config.Serve) { c.SMTP.Host, c.SMTP.Username = "smtp.example.com", "tocsin" }, // no password
		"address":  func(c *config.Serve) { c.Addr = held.Addr().String() },
	} {
		t.Run(name, func(t *testing.T) {
			dsn := storetest.SQLiteDSN(t)
			bad := serveConfig(t, dsn)
			spoil(bad)
			var out bytes.Buffer
			if _, err := server.Start(context.Background(), bad, log, &out); err == nil {
				t.Fatal("started")
			}
			if strings.Contains(out.String(), "shown only once") {
				t.Fatalf("a start that failed created the first administrator:\n%s", out.String())
			}
			s, err := server.Start(context.Background(), serveConfig(t, dsn), log, &out)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			if n := strings.Count(out.String(), "shown only once"); n != 1 {
				t.Fatalf("the password was printed %d times, want once, by the start that worked:\n%s", n, out.String())
			}
		})
	}
}
