// Package e2e_test builds the real tocsin binary and drives it as a user would: through its
// command line, its environment, signals, and HTTP on 127.0.0.1.
package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the tocsin executable built once by TestMain.
var binary string

// Bounds on how long the tests wait for the program. They are generous so that a slow CI
// machine passes, and bounded so that a hang fails instead of stalling the run.
const (
	readyTimeout = 60 * time.Second // start, migrate, listen; see waitReady
	exitTimeout  = 15 * time.Second // a graceful shutdown
	cliTimeout   = 30 * time.Second // one CLI command
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tocsin-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "tocsin")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, "github.com/tocsinhq/tocsin/cmd/tocsin")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// childEnv is the test's environment without TOCSIN_* variables, so a developer's own
// settings cannot change what the program under test does, plus the given extra variables.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOCSIN_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a running tocsin.
type process struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	URL    string // http://addr, set by startServe
	stdout lockedBuffer
	stderr lockedBuffer
	exited chan struct{} // closed once Wait has returned
	state  *os.ProcessState
}

// start runs the binary with args in a temporary working directory. The process is killed
// when the test ends, and its output is logged if the test failed.
func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{t: t, name: "tocsin " + strings.Join(args, " "), exited: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = env
	p.cmd.Dir = t.TempDir()
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.hasExited() {
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s (pid %d)\n--- stdout ---\n%s\n--- stderr ---\n%s", p.name, p.cmd.Process.Pid, tail(p.stdout.String()), tail(p.stderr.String()))
		}
	})
	return p
}

// tail keeps the end of a long log.
func tail(s string) string {
	const n = 8000
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// startServe starts `tocsin serve` on a free port with the database dsn and waits until it
// answers /readyz.
func startServe(t *testing.T, dsn string, extra ...string) *process {
	t.Helper()
	return startServeAt(t, freeAddr(t), dsn, extra...)
}

// startServeAt is startServe on addr, for tests that must know the address before the
// program starts (its --public-url).
func startServeAt(t *testing.T, addr, dsn string, extra ...string) *process {
	t.Helper()
	args := append([]string{"serve", "--addr", addr, "--db", dsn}, extra...)
	p := start(t, childEnv(), args...)
	p.URL = "http://" + addr
	p.waitReady()
	return p
}

// waitReady polls /readyz until it answers 200; it fails the test if the process exits or
// the time runs out first.
func (p *process) waitReady() {
	p.t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	began := time.Now()
	deadline := began.Add(readyTimeout)
	for {
		resp, err := hc.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// On PostgreSQL, migrations take an advisory lock shared by every schema of the
				// database and retried every 5s, so starts beside other tests can be slow.
				if took := time.Since(began); took > 3*time.Second {
					p.t.Logf("%s took %s to become ready", p.name, took.Round(time.Millisecond))
				}
				return
			}
		}
		if p.hasExited() {
			p.t.Fatalf("%s exited (%v) before it was ready\n%s", p.name, p.state, tail(p.stderr.String()))
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready at %s/readyz after %s (last: %v)", p.name, p.URL, readyTimeout, errOrStatus(resp, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func errOrStatus(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// signal sends sig to the process.
func (p *process) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("send %v to %s: %v", sig, p.name, err)
	}
}

// wait waits for the process to exit and returns its state; it fails the test after d.
func (p *process) wait(d time.Duration) *os.ProcessState {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.state
	case <-time.After(d):
		p.t.Fatalf("%s still running %s after it was told to stop", p.name, d)
		return nil
	}
}

// stop shuts the process down with SIGTERM and requires a clean exit.
func (p *process) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if st := p.wait(exitTimeout); st.ExitCode() != 0 {
		p.t.Fatalf("%s exited with %v after SIGTERM, want exit status 0", p.name, st)
	}
}

// cliResult is what a finished command printed and how it exited.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary to completion with args in a temporary working directory.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = childEnv()
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("tocsin %s: still running after %s", strings.Join(args, " "), cliTimeout)
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("tocsin %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// createUserWithKey runs `tocsin user create --api-key` and returns the printed API key.
func createUserWithKey(t *testing.T, dsn, email, role string) string {
	t.Helper()
	r := runCLI(t, "user", "create", "--db", dsn, "--email", email, "--first-name", "Ada", "--last-name", "Lovelace", "--role", role, "--api-key")
	if r.code != 0 {
		t.Fatalf("user create --api-key exited %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	key := strings.TrimSpace(r.stdout)
	if key == "" || strings.ContainsAny(key, " \n\t") {
		t.Fatalf("user create --api-key printed %q on stdout, want one line holding the key", r.stdout)
	}
	return key
}
