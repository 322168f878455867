package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/internal/agent"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/kafka"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
	"github.com/tocsinhq/tocsin/internal/agent/mqtt"
	"github.com/tocsinhq/tocsin/internal/agent/policy"
	"github.com/tocsinhq/tocsin/internal/agent/queue"
	agentrules "github.com/tocsinhq/tocsin/internal/agent/rules"
	"github.com/tocsinhq/tocsin/internal/fault"
)

const agentUsage = `usage:
  tocsin agent event -k INTEGRATION_KEY [-t ALERT|ACCEPT|RESOLVE] -s SUMMARY [-i ALERT_KEY] [-o LOW|HIGH] [-d DETAILS] [-g IMAGE_URL] [-l LINK_URL]
  tocsin agent heartbeat -k HEARTBEAT_KEY
  tocsin agent daemon [-p PORT] [--bind 0.0.0.0] [-b HEARTBEAT_KEY] [--max_retries 100] [--max_backoff 60s]

Flags of every subcommand, before or after its name:
  --server URL   the tocsin server (TOCSIN_SERVER; default http://127.0.0.1:8080)
  -f, --file F   the daemon's buffer file (default ./tocsin-agent.db)
  -v             more logging: -v info, -vv debug (default: warnings and errors)

Run "tocsin agent <subcommand> -h" for its flags; docs/agent.md describes them all.
`

// agentGlobals are the flags every agent subcommand takes.
type agentGlobals struct {
	server  string
	file    string
	verbose int
}

func (g *agentGlobals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.server, "server", g.server, "the tocsin server's base URL (env TOCSIN_SERVER)")
	stringFlag(fs, &g.file, "f", "file", g.file, "the SQLite buffer file")
	fs.Var(verbosity{&g.verbose, 1}, "v", "more logging; repeat for more (-v info, -vv debug)")
	fs.Var(verbosity{&g.verbose, 1}, "verbose", "same as -v")
	fs.Var(verbosity{&g.verbose, 2}, "vv", "same as -v -v")
	fs.Var(verbosity{&g.verbose, 3}, "vvv", "same as -v -v -v")
}

func (g *agentGlobals) check() error {
	u, err := url.Parse(g.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q is not an http:// or https:// URL", g.serverForLogs())
	}
	return nil
}

// serverForLogs is --server without a password, for messages and logs.
func (g *agentGlobals) serverForLogs() string {
	if u, err := url.Parse(g.server); err == nil {
		return u.Redacted()
	}
	return g.server
}

func (g *agentGlobals) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.verbose >= 2:
		level = slog.LevelDebug
	case g.verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// verbosity is a counting flag: each -v adds step; -v=N sets the level to N.
type verbosity struct {
	level *int
	step  int
}

func (v verbosity) String() string {
	if v.level == nil {
		return "0"
	}
	return strconv.Itoa(*v.level)
}

func (v verbosity) IsBoolFlag() bool { return true }

func (v verbosity) Set(s string) error {
	if b, err := strconv.ParseBool(s); err == nil {
		if b {
			*v.level += v.step
		} else {
			*v.level = 0
		}
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New("want a level from 0 (warnings) to 2 (debug)")
	}
	*v.level = n
	return nil
}

// stringFlag defines a flag under a short and a long name (ilagent's -k and --integration_key).
func stringFlag(fs *flag.FlagSet, p *string, short, long, value, usage string) {
	fs.StringVar(p, long, value, usage)
	fs.StringVar(p, short, value, "same as --"+long)
}

// envFirst is the value of the first of names that is set and not empty.
func envFirst(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// agentAPIKey reads the API key for escalation-policy sync: TOCSIN_API_KEY, the file named by
// TOCSIN_API_KEY_FILE, or ilagent's ILERT_API_KEY.
func agentAPIKey() (string, error) {
	if v := envFirst("TOCSIN_API_KEY"); v != "" {
		return v, nil
	}
	if path := envFirst("TOCSIN_API_KEY_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("TOCSIN_API_KEY_FILE: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return envFirst("ILERT_API_KEY"), nil
}

// agentCmd runs `tocsin agent …`.
func agentCmd(args []string, stdout, stderr io.Writer) error {
	g := &agentGlobals{server: "http://127.0.0.1:8080", file: "./tocsin-agent.db"}
	if v := envFirst("TOCSIN_SERVER"); v != "" {
		g.server = v
	}
	fs := newFlagSet("agent", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, agentUsage) }
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New(agentUsage)
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	switch sub {
	case "event":
		return agentEvent(g, rest, stderr)
	case "heartbeat":
		return agentHeartbeat(g, rest, stderr)
	case "daemon":
		return agentDaemon(g, rest, stderr)
	}
	return fmt.Errorf("unknown agent subcommand %q\n\n%s", sub, agentUsage)
}

// parseAgentFlags parses a subcommand's flags and refuses leftover arguments.
func parseAgentFlags(g *agentGlobals, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (flags come before it? values with spaces need quotes)", fs.Name(), fs.Arg(0))
	}
	return g.check()
}

// integrationKey is the -k flag's value, else TOCSIN_INTEGRATION_KEY, else ilagent's
// ILERT_INTEGRATION_KEY.
func integrationKey(flagValue string) (string, error) {
	if k := cmp.Or(strings.TrimSpace(flagValue), envFirst("TOCSIN_INTEGRATION_KEY", "ILERT_INTEGRATION_KEY")); k != "" {
		return k, nil
	}
	return "", errors.New("an integration key is needed: -k KEY, or TOCSIN_INTEGRATION_KEY (ILERT_INTEGRATION_KEY)")
}

// agentEvent sends one event to the server directly, without the buffer.
func agentEvent(g *agentGlobals, args []string, stderr io.Writer) error {
	fs := newFlagSet("agent event", stderr)
	g.register(fs)
	var ev client.Event
	var image, link string
	ev.EventType = "ALERT"
	stringFlag(fs, &ev.IntegrationKey, "k", "integration_key", "", "the alert source's integration key (env TOCSIN_INTEGRATION_KEY, ILERT_INTEGRATION_KEY)")
	stringFlag(fs, &ev.EventType, "t", "event_type", ev.EventType, "ALERT, ACCEPT or RESOLVE")
	stringFlag(fs, &ev.Summary, "s", "summary", "", "the alert's summary (required for ALERT)")
	stringFlag(fs, &ev.AlertKey, "i", "alert_key", "", "the alert key, to deduplicate, accept or resolve (required for ACCEPT and RESOLVE)")
	stringFlag(fs, &ev.Priority, "o", "priority", "", "LOW or HIGH (default: the alert source's)")
	stringFlag(fs, &ev.Details, "d", "details", "", "the alert's details")
	stringFlag(fs, &image, "g", "image", "", "the URL of an image to attach")
	stringFlag(fs, &link, "l", "link", "", "the URL of a link to attach")
	if err := parseAgentFlags(g, fs, args); err != nil {
		return err
	}
	var err error
	if ev.IntegrationKey, err = integrationKey(ev.IntegrationKey); err != nil {
		return err
	}
	ev.EventType, ev.Priority = strings.ToUpper(ev.EventType), strings.ToUpper(ev.Priority)
	switch ev.EventType {
	case "ALERT", "ACCEPT", "RESOLVE":
	default:
		return fmt.Errorf("-t/--event_type %q is not one of ALERT, ACCEPT, RESOLVE", ev.EventType)
	}
	if image != "" {
		ev.Images = []client.Image{{Src: image}}
	}
	if link != "" {
		ev.Links = []client.Link{{Href: link}}
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("invalid event: %s", fault.MessageOf(err))
	}
	log := g.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := client.New(g.server, "").SendEvent(ctx, ev); err != nil {
		return fmt.Errorf("send the event to %s: %w", g.serverForLogs(), err)
	}
	log.Info("event accepted by the server", "server", g.serverForLogs(), "eventType", ev.EventType, "alertKey", ev.AlertKey)
	return nil
}

// agentHeartbeat sends one heartbeat ping.
func agentHeartbeat(g *agentGlobals, args []string, stderr io.Writer) error {
	fs := newFlagSet("agent heartbeat", stderr)
	g.register(fs)
	var key string
	stringFlag(fs, &key, "k", "integration_key", "", "the heartbeat key (env TOCSIN_INTEGRATION_KEY, ILERT_INTEGRATION_KEY)")
	if err := parseAgentFlags(g, fs, args); err != nil {
		return err
	}
	key, err := integrationKey(key)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := client.New(g.server, "").Ping(ctx, key); err != nil {
		return fmt.Errorf("heartbeat ping to %s: %w", g.serverForLogs(), err)
	}
	g.logger(stderr).Info("heartbeat ping accepted by the server", "server", g.serverForLogs())
	return nil
}

// agentDaemon runs the long-lived agent: the buffer's delivery loop, the proxy, the heartbeat
// loop and the consumers.
func agentDaemon(g *agentGlobals, args []string, stderr io.Writer) error {
	fs := newFlagSet("agent daemon", stderr)
	g.register(fs)
	var cfg agent.Config
	var maxRetries int
	var maxBackoff time.Duration
	fs.IntVar(&cfg.Port, "port", 0, "start the local HTTP proxy on this port (default: no proxy)")
	fs.IntVar(&cfg.Port, "p", 0, "same as --port")
	fs.StringVar(&cfg.Bind, "bind", "0.0.0.0", "the address the proxy listens on")
	stringFlag(fs, &cfg.Heartbeat, "b", "heartbeat", "", "a heartbeat key to ping now and every 30s")
	fs.IntVar(&maxRetries, "max_retries", 100, "failed attempts after which a buffered item is dropped (0: retry forever)")
	fs.DurationVar(&maxBackoff, "max_backoff", time.Minute, "the longest wait between attempts (they start at 1s and double)")
	feeds := addAgentFeedFlags(fs)
	if err := parseAgentFlags(g, fs, args); err != nil {
		return err
	}
	switch {
	case cfg.Port < 0 || cfg.Port > 65535:
		return fmt.Errorf("-p/--port %d is not a port from 1 to 65535", cfg.Port)
	case maxRetries < 0:
		return fmt.Errorf("--max_retries %d: want 0 (forever) or more", maxRetries)
	case maxBackoff < time.Second:
		return fmt.Errorf("--max_backoff %s: want at least 1s", maxBackoff)
	}
	apiKey, err := agentAPIKey()
	if err != nil {
		return err
	}
	log := g.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	c := client.New(g.server, apiKey)
	q, err := queue.Open(ctx, g.file, queue.Options{MaxRetries: maxRetries, MaxBackoff: maxBackoff, Log: log})
	if err != nil {
		return err
	}
	defer q.Close()
	cfg.Registry = prometheus.NewRegistry()
	cfg.Version = version()
	consumers, err := feeds.consumers(ctx, agentFeedDeps{Buffer: q, Client: c, Queue: q, Registry: cfg.Registry, Log: log})
	if err != nil {
		return err
	}
	sync := policy.Handler(c, feeds.policy)
	cfg.PolicyHandler = func(ctx context.Context, payload []byte) error {
		err := sync(ctx, payload)
		if err != nil && !policy.Retryable(err) {
			return queue.Permanent(err)
		}
		return err
	}
	d, err := agent.New(cfg, c, q, consumers, log)
	if err != nil {
		return err
	}
	log.Info("agent started", "server", g.serverForLogs(), "file", g.file, "version", cfg.Version, "consumers", len(consumers))
	if err := d.Run(ctx); err != nil {
		return err
	}
	if err := q.Close(); err != nil {
		return fmt.Errorf("close the buffer: %w", err)
	}
	log.Info("agent stopped")
	return nil
}

// agentFeedFlags are the flags of what feeds the daemon: the MQTT and Kafka consumers, their
// message mapping, escalation-policy sync and the stream rules. Each package registers its
// flags on the daemon's FlagSet (the topic and filter flags are shared, registered once).
type agentFeedFlags struct {
	mqtt    mqtt.Config
	kafka   kafka.Config
	mapping mapping.Options
	policy  mapping.PolicyOptions
	rules   string
}

func addAgentFeedFlags(fs *flag.FlagSet) *agentFeedFlags {
	f := &agentFeedFlags{}
	f.mqtt.Flags(fs)
	f.kafka.Flags(fs)
	f.mapping.Flags(fs)
	f.policy.Flags(fs)
	fs.StringVar(&f.rules, "rules", "", "a YAML file of stream rules evaluated on the consumers' messages")
	return f
}

// agentFeedDeps is what the consumers are built with.
type agentFeedDeps struct {
	Buffer   consumer.Buffer // where consumers push events and policy messages
	Client   *client.Client  // for what is not buffered (heartbeat pings from a topic)
	Queue    *queue.Queue    // Queue.DB() holds the stream rules' state
	Registry *prometheus.Registry
	Log      *slog.Logger
}

// consumers builds the consumers the flags ask for. The stream rules come first: they watch
// every message the MQTT and Kafka consumers receive (and their topics are subscribed to),
// and, having timers of their own (missing heartbeats), they are a consumer too, so the
// daemon runs them and /ready reports them.
func (f *agentFeedFlags) consumers(ctx context.Context, deps agentFeedDeps) ([]consumer.Consumer, error) {
	var out []consumer.Consumer
	var observers []consumer.Observer
	if f.rules != "" {
		set, err := agentrules.Load(f.rules)
		if err != nil {
			return nil, err
		}
		engine, err := agentrules.New(set, deps.Queue.DB(), deps.Buffer, time.Now, deps.Log)
		if err != nil {
			return nil, err
		}
		out, observers = append(out, engine), append(observers, engine)
		f.mqtt.Topics.Observe = set.Topics()
		f.kafka.Topics.Observe = set.Topics()
	}
	obs := []consumer.Observer{agent.Fanout(observers...)}
	if f.mqtt.Enabled() {
		if err := f.mqtt.Validate(); err != nil {
			return nil, err
		}
		m, err := mqtt.New(f.mqtt, f.mapping, f.policy, deps.Client, deps.Buffer, obs, deps.Registry, deps.Log)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if f.kafka.Enabled() {
		if err := f.kafka.Validate(); err != nil {
			return nil, err
		}
		k, err := kafka.New(f.kafka, f.mapping, f.policy, deps.Client, deps.Buffer, obs, deps.Registry, deps.Log)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if f.rules != "" && !f.mqtt.Enabled() && !f.kafka.Enabled() {
		return nil, errors.New("--rules watches the messages of a consumer: give -m/--mqtt_host or --kafka_brokers too")
	}
	return out, nil
}
