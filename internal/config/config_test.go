package config_test

import (
	"flag"
	"io"
	"testing"

	"github.com/tocsinhq/tocsin/internal/config"
)

func parse(t *testing.T, args ...string) (*config.Serve, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := config.ServeFlags(fs)
	if err := config.Parse(fs, args); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

func TestServeDefaults(t *testing.T) {
	c, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DB != "./tocsin.db" || c.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	t.Setenv("TOCSIN_ADDR", "0.0.0.0:9000")
	t.Setenv("TOCSIN_DB", "postgres://db/tocsin")
	t.Setenv("TOCSIN_EVENT_RATE", "0")
	c, err := parse(t, "--db", "/var/lib/tocsin.db")
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "0.0.0.0:9000" || c.DB != "/var/lib/tocsin.db" || c.EventRate != 0 {
		t.Fatalf("the environment sets, the command line wins: %+v", c)
	}
	if c.PublicURL != "http://127.0.0.1:9000" {
		t.Fatalf("public URL for a wildcard address: %q", c.PublicURL)
	}
}

func TestServeInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"--addr", "nope"},
		{"--public-url", "ftp://x"},
		{"--event-rate", "-1"},
		{"--log-level", "loud"},
	} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
	t.Setenv("TOCSIN_EVENT_BURST", "many")
	if _, err := parse(t); err == nil {
		t.Error("a malformed environment variable must be an error")
	}
}
