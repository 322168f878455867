package mqtt_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
	"github.com/tocsinhq/tocsin/internal/agent/mqtt"
)

// The machine's Mosquitto (see docs/dependencies.md).
const brokerHost, brokerPort = "127.0.0.1", 1883

const integrationKey = "il1api0123456789abcdefghij"

// unique returns a name no other test run uses, for topics and client ids.
func unique(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return "tocsin-test-" + name + "-" + hex.EncodeToString(b)
}

// testConfig is a consumer of the machine's broker with a client id of its own, QoS 1, and
// short waits between attempts.
func testConfig(t *testing.T, topics mapping.Topics) mqtt.Config {
	return mqtt.Config{Host: brokerHost, Port: brokerPort, ClientID: unique(t), QoS: 1, Topics: topics,
		RetryBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
}

type running struct {
	*mqtt.Consumer
	reg  *prometheus.Registry
	stop func()
}

// start runs a consumer until the test ends (or stop is called), and waits until it is ready.
// The broker's persistent session of its client id is removed at the end.
func start(t *testing.T, cfg mqtt.Config, m mapping.Options, p mapping.PolicyOptions, c *client.Client,
	buf consumer.Buffer, obs ...consumer.Observer) *running {
	t.Helper()
	r := run(t, cfg, m, p, c, buf, obs...)
	agenttest.Eventually(t, 10*time.Second, "the consumer is not ready", func() bool { return r.Status().Ready })
	return r
}

// startUnready runs an event consumer that is not expected to get ready.
func startUnready(t *testing.T, cfg mqtt.Config, srv *agenttest.Server) *running {
	t.Helper()
	return run(t, cfg, byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil)
}

func run(t *testing.T, cfg mqtt.Config, m mapping.Options, p mapping.PolicyOptions, c *client.Client,
	buf consumer.Buffer, obs ...consumer.Observer) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cn, err := mqtt.New(cfg, m, p, c, buf, obs, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropSession(t, cfg) }) // after the consumer stops: cleanups run last first
	stop := agenttest.Run(t, cn)
	return &running{Consumer: cn, reg: reg, stop: stop}
}

// dropSession removes the broker's persistent session of cfg's client id, by connecting once
// with a clean session.
func dropSession(t *testing.T, cfg mqtt.Config) {
	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://%s:%d", cfg.Host, cfg.Port)).
		SetClientID(cfg.ClientID).SetCleanSession(true)
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		cl.Disconnect(100)
	}
}

// publish sends payloads to topic at QoS 1 and waits until the broker has each.
func publish(t *testing.T, host string, port int, topic string, payloads ...string) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://%s:%d", host, port)).
		SetClientID(unique(t) + "-pub").SetCleanSession(true)
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: connect: %v", tok.Error())
	}
	defer cl.Disconnect(100)
	for _, p := range payloads {
		if tok := cl.Publish(topic, 1, false, p); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish to %s: %v", topic, tok.Error())
		}
	}
}

// broker is a Mosquitto of the test's own, on a free port, which the test may restart. It
// keeps its sessions in a temporary folder across restarts, as a production broker would.
type broker struct {
	t    *testing.T
	Port int
	conf string
	cmd  *exec.Cmd
}

// startBroker starts a private Mosquitto with extra configuration lines. The test is skipped
// when the mosquitto binary is missing, and fails for it in CI.
func startBroker(t *testing.T, extra ...string) *broker {
	t.Helper()
	if _, err := exec.LookPath("mosquitto"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no mosquitto binary: %v", err)
		}
		t.Skipf("no mosquitto binary (install Mosquitto to run this test): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	lines := append([]string{
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"allow_anonymous true",
		"persistence true",
		"persistence_location " + dir + "/",
		"log_dest file " + filepath.Join(dir, "mosquitto.log"),
		"user root",
	}, extra...)
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, Port: port, conf: conf}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start() {
	b.t.Helper()
	b.cmd = exec.Command("mosquitto", "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	agenttest.Eventually(b.t, 5*time.Second, "the private broker does not listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.Port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// stop ends the broker the way a service manager does (SIGTERM): it saves its sessions.
func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
	b.cmd = nil
}

func (b *broker) restart() {
	b.stop()
	b.start()
}
