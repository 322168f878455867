package mqtt_test

import (
	"flag"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
	"github.com/tocsinhq/tocsin/internal/agent/mqtt"
)

func events(summaries ...string) []string {
	out := make([]string, len(summaries))
	for i, s := range summaries {
		out[i] = fmt.Sprintf(`{"text": %q}`, s)
	}
	return out
}

var byText = mapping.Options{EventKey: integrationKey, MapKeySummary: "text"}

func TestDeliversEventsAndHeartbeats(t *testing.T) {
	srv := agenttest.NewServer(t)
	base := unique(t)
	obs := &agenttest.Recorder{}
	cfg := testConfig(t, mapping.Topics{Event: base + "/events/+", Heartbeat: base + "/hbt"})
	c := start(t, cfg, byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil, obs)

	publish(t, brokerHost, brokerPort, base+"/events/boiler", events("one")...)
	publish(t, brokerHost, brokerPort, base+"/hbt", `{"integrationKey": "il1hbt-boiler"}`)
	publish(t, brokerHost, brokerPort, base+"/events/pump", events("two", "three")...)

	agenttest.Eventually(t, 10*time.Second, "the events did not arrive", func() bool { return len(srv.Summaries()) == 3 })
	if got, want := srv.Summaries(), []string{"one", "two", "three"}; !slices.Equal(got, want) {
		t.Errorf("events: got %q, want %q", got, want)
	}
	agenttest.Eventually(t, 5*time.Second, "no ping", func() bool { return len(srv.Pings()) == 1 })
	if got := srv.Pings(); got[0] != "il1hbt-boiler" {
		t.Errorf("pinged %q", got)
	}
	if got := srv.Events()[0].CustomDetails; string(got) != fmt.Sprintf(`{"topic":"%s/events/boiler"}`, base) {
		t.Errorf("customDetails: %s", got)
	}
	// A message is counted and shown to the observers once it is done, just after the server
	// took it: wait for that rather than race it.
	agenttest.Eventually(t, 5*time.Second, "the observer did not see every message", func() bool { return len(obs.Messages()) == 4 })
	agenttest.Eventually(t, 5*time.Second, "the delivered events were not counted", func() bool {
		return agenttest.Counter(t, c.reg, "tocsin_agent_consumer_messages_total", map[string]string{"source": "mqtt", "kind": "event", "outcome": "delivered"}) == 3
	})
	time.Sleep(100 * time.Millisecond) // time for a message shown twice to show
	if got := obs.Messages(); len(got) != 4 {
		t.Errorf("the observer saw %q, want every message once", got)
	}
}

func TestMalformedMessagesAreCountedAndSkipped(t *testing.T) {
	srv := agenttest.NewServer(t)
	base := unique(t)
	cfg := testConfig(t, mapping.Topics{Event: base, Heartbeat: base + "/hbt"})
	c := start(t, cfg, byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil)

	publish(t, brokerHost, brokerPort, base, `temperature=81`, `{"text": "before"}`, `{"eventType": "RESOLVE"}`)
	publish(t, brokerHost, brokerPort, base+"/hbt", `{"key": "none"}`)
	publish(t, brokerHost, brokerPort, base, `{"text": "after"}`)

	agenttest.Eventually(t, 10*time.Second, "the good messages did not arrive", func() bool { return len(srv.Summaries()) == 2 })
	if got, want := srv.Summaries(), []string{"before", "after"}; !slices.Equal(got, want) {
		t.Errorf("events: got %q, want %q", got, want)
	}
	agenttest.Eventually(t, 5*time.Second, "the mapping failures were not counted", func() bool {
		return agenttest.Counter(t, c.reg, "tocsin_agent_consumer_mapping_failures_total", nil) == 3
	})

	// They were acknowledged: the session, taken over by a new consumer, holds nothing.
	c.stop()
	c2 := start(t, cfg, byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil)
	publish(t, brokerHost, brokerPort, base, `{"text": "last"}`)
	agenttest.Eventually(t, 10*time.Second, "the last message did not arrive", func() bool { return len(srv.Summaries()) == 3 })
	if got := agenttest.Counter(t, c2.reg, "tocsin_agent_consumer_mapping_failures_total", nil); got != 0 {
		t.Errorf("malformed messages came again: %v", got)
	}
}

// TestServerOutage: without the buffer a message is acknowledged only once the server took
// it. While the server answers 503 the messages stay with the broker; once it is back they all
// arrive, in order, each once.
func TestServerOutage(t *testing.T) {
	srv := agenttest.NewServer(t)
	srv.SetStatus(http.StatusServiceUnavailable)
	base := unique(t)
	cfg := testConfig(t, mapping.Topics{Event: base})
	start(t, cfg, byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil)

	publish(t, brokerHost, brokerPort, base, events("1", "2", "3", "4", "5")...)
	agenttest.Eventually(t, 10*time.Second, "no retries", func() bool { return srv.FailedAttempts() >= 4 })
	if got := srv.Summaries(); len(got) != 0 {
		t.Fatalf("delivered during the outage: %q", got)
	}
	srv.SetStatus(http.StatusAccepted)
	agenttest.Eventually(t, 10*time.Second, "the backlog did not drain", func() bool { return len(srv.Summaries()) >= 5 })
	time.Sleep(200 * time.Millisecond) // time for a duplicate to show
	if got, want := srv.Summaries(), []string{"1", "2", "3", "4", "5"}; !slices.Equal(got, want) {
		t.Errorf("events: got %q, want %q", got, want)
	}
}

// TestAgentRestartDuringOutage: an agent stopped while its messages fail leaves them with the
// broker; the next agent with the same client id delivers them.
func TestAgentRestartDuringOutage(t *testing.T) {
	srv := agenttest.NewServer(t)
	srv.SetStatus(http.StatusBadGateway)
	base := unique(t)
	cfg := testConfig(t, mapping.Topics{Event: base})
	first := start(t, cfg, byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil)
	publish(t, brokerHost, brokerPort, base, events("a", "b", "c")...)
	agenttest.Eventually(t, 10*time.Second, "no attempt", func() bool { return srv.FailedAttempts() >= 1 })
	first.stop()

	srv.SetStatus(http.StatusAccepted)
	start(t, cfg, byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil)
	agenttest.Eventually(t, 10*time.Second, "the messages were lost", func() bool { return len(srv.Summaries()) >= 3 })
	if got, want := srv.Summaries(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("events: got %q, want %q", got, want)
	}
}

// TestRejectedEventsAreNotRetried: a 400 or 404 (unknown integration key) never succeeds; the
// message is acknowledged and the next one goes on.
func TestRejectedEventsAreNotRetried(t *testing.T) {
	srv := agenttest.NewServer(t)
	srv.SetStatus(http.StatusNotFound)
	base := unique(t)
	c := start(t, testConfig(t, mapping.Topics{Event: base}), byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil)
	publish(t, brokerHost, brokerPort, base, events("x", "y")...)
	agenttest.Eventually(t, 10*time.Second, "not rejected", func() bool {
		return agenttest.Counter(t, c.reg, "tocsin_agent_consumer_messages_total", map[string]string{"outcome": "rejected"}) == 2
	})
	time.Sleep(300 * time.Millisecond)
	if got := srv.FailedAttempts(); got != 2 {
		t.Errorf("attempts: %d, want 2 (one each)", got)
	}
}

// TestBufferedAcknowledgesAfterPush: with --mqtt_buffer the message is acknowledged once the
// buffer has it. A push that fails leaves it unacknowledged, so the broker sends it again.
func TestBufferedAcknowledgesAfterPush(t *testing.T) {
	srv := agenttest.NewServer(t)
	buf := &agenttest.Buffer{Fail: func(n int) bool { return n == 1 }}
	base := unique(t)
	cfg := testConfig(t, mapping.Topics{Event: base + "/events", Policy: base + "/shifts"})
	cfg.Buffer = true
	pol := mapping.PolicyOptions{PolicyRoutingKeys: "site", FilterKey: "state", FilterVal: "active"}
	start(t, cfg, byText, pol, client.New(srv.URL, ""), buf)

	publish(t, brokerHost, brokerPort, base+"/events", events("one", "two", "three")...)
	agenttest.Eventually(t, 10*time.Second, "the events were not buffered", func() bool { return len(buf.Summaries()) == 3 })
	if got, want := buf.Summaries(), []string{"one", "two", "three"}; !slices.Equal(got, want) {
		t.Errorf("buffered: got %q, want %q", got, want)
	}
	shift := `{"site": "north", "state": "active", "data": {"email": "ada@example.com", "shift": 1}}`
	publish(t, brokerHost, brokerPort, base+"/shifts", `{"site": "north", "state": "off", "data": {"email": "ada@example.com"}}`, shift)
	agenttest.Eventually(t, 10*time.Second, "the policy message was not buffered", func() bool {
		return len(buf.Policies()) == 1
	})
	if got := buf.Policies()[0]; got != shift {
		t.Errorf("buffered policy message %s", got)
	}
	if got := srv.Summaries(); len(got) != 0 {
		t.Errorf("the server got events directly: %q", got)
	}
}

// TestBufferedQoS0: with the buffer, QoS 0 subscriptions are allowed.
func TestBufferedQoS0(t *testing.T) {
	buf := &agenttest.Buffer{}
	base := unique(t)
	cfg := testConfig(t, mapping.Topics{Event: base})
	cfg.Buffer, cfg.QoS = true, 0
	start(t, cfg, byText, mapping.PolicyOptions{}, client.New("http://127.0.0.1:1", ""), buf)
	publish(t, brokerHost, brokerPort, base, events("zero")...)
	agenttest.Eventually(t, 10*time.Second, "not buffered", func() bool { return len(buf.Summaries()) == 1 })
}

// TestSharedGroup: agents in one --mqtt_shared_group split the messages; each is delivered once.
func TestSharedGroup(t *testing.T) {
	base := unique(t)
	srvA, srvB := agenttest.NewServer(t), agenttest.NewServer(t)
	cfgA := testConfig(t, mapping.Topics{Event: base})
	cfgA.SharedGroup = "agents"
	cfgB := cfgA
	cfgB.ClientID += "-b"
	start(t, cfgA, byText, mapping.PolicyOptions{}, client.New(srvA.URL, ""), nil)
	start(t, cfgB, byText, mapping.PolicyOptions{}, client.New(srvB.URL, ""), nil)

	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprint(i))
	}
	publish(t, brokerHost, brokerPort, base, events(want...)...)
	agenttest.Eventually(t, 10*time.Second, "not all delivered", func() bool { return len(srvA.Summaries())+len(srvB.Summaries()) >= 20 })
	time.Sleep(200 * time.Millisecond)
	a, b := srvA.Summaries(), srvB.Summaries()
	got := append(append([]string{}, a...), b...)
	slices.SortFunc(got, func(x, y string) int { return len(x) - len(y) + strings.Compare(x, y)*10 })
	slices.SortFunc(want, func(x, y string) int { return len(x) - len(y) + strings.Compare(x, y)*10 })
	if !slices.Equal(got, want) {
		t.Errorf("delivered %q, want each of %q once", got, want)
	}
	if len(a) == 0 || len(b) == 0 {
		t.Errorf("not shared: agent A got %d, agent B %d", len(a), len(b))
	}
}

// TestBrokerRestart: a broker restarted while messages wait for the server keeps them (its
// persistent session); the consumer reconnects and delivers them and the ones that follow.
func TestBrokerRestart(t *testing.T) {
	b := startBroker(t)
	srv := agenttest.NewServer(t)
	srv.SetStatus(http.StatusServiceUnavailable)
	base := unique(t)
	cfg := testConfig(t, mapping.Topics{Event: base})
	cfg.Host, cfg.Port = "127.0.0.1", b.Port
	c := start(t, cfg, byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil)

	publish(t, "127.0.0.1", b.Port, base, events("1", "2", "3")...)
	agenttest.Eventually(t, 10*time.Second, "no attempt", func() bool { return srv.FailedAttempts() >= 1 })
	b.restart()
	srv.SetStatus(http.StatusAccepted)
	agenttest.Eventually(t, 10*time.Second, "the consumer did not reconnect", func() bool { return c.Status().Ready })
	publish(t, "127.0.0.1", b.Port, base, events("4", "5")...)
	agenttest.Eventually(t, 15*time.Second, "messages were lost", func() bool { return len(srv.Summaries()) >= 5 })
	if got, want := srv.Summaries(), []string{"1", "2", "3", "4", "5"}; !slices.Equal(got, want) {
		t.Errorf("events: got %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	ok := mqtt.Config{Host: "broker", Port: 1883, ClientID: "agent", QoS: 1, Topics: mapping.Topics{Event: "plant/#"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
	for name, edit := range map[string]func(*mqtt.Config){
		"ErrNoTopic":           func(c *mqtt.Config) { c.Topics = mapping.Topics{} },
		"ErrQoS0WithoutBuffer": func(c *mqtt.Config) { c.QoS = 0 },
		"ErrQoS3":              func(c *mqtt.Config) { c.QoS = 3 },
		"ErrBadFilter":         func(c *mqtt.Config) { c.Topics.Event = "plant/#/x" },
		"ErrBadPort":           func(c *mqtt.Config) { c.Port = 0 },
		"ErrNoClientID":        func(c *mqtt.Config) { c.ClientID = "" },
		"ErrBadSharedGroup":    func(c *mqtt.Config) { c.SharedGroup = "a/b" },
		"ErrCAWithoutTLS":      func(c *mqtt.Config) { c.CA = "ca.pem" },
		"ErrCertWithoutKey":    func(c *mqtt.Config) { c.TLS, c.ClientCert = true, "cert.pem" },
		"ErrMissingCAFile":     func(c *mqtt.Config) { c.TLS, c.CA = true, "/nonexistent/ca.pem" },
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			edit(&c)
			if err := c.Validate(); err == nil {
				t.Error("no error")
			}
		})
	}
	t.Run("OnlyAStreamRulesTopic", func(t *testing.T) {
		c := ok
		c.Topics = mapping.Topics{Observe: []string{"sensors/+/temp"}}
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
	})
	t.Run("QoS0WithBuffer", func(t *testing.T) {
		c := ok
		c.QoS, c.Buffer = 0, true
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
	})
}

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	var c mqtt.Config
	c.Flags(fs)
	err := fs.Parse([]string{"-m", "broker.local", "-q", "8883", "-n", "agent-1", "--mqtt_username", "u", "--mqtt_password", "p",
		"--mqtt_tls", "--mqtt_ca", "ca.pem", "--mqtt_client_cert", "c.pem", "--mqtt_client_key", "k.pem", "--mqtt_qos", "2",
		"--mqtt_buffer", "--mqtt_shared_group", "g", "-e", "ev/#", "-r", "hbt", "--policy_topic", "shifts"})
	if err != nil {
		t.Fatal(err)
	}
	want := mqtt.Config{Host: "broker.local", Port: 8883, ClientID: "agent-1", Username: "u", Password: "p", TLS: true,
		CA: "ca.pem", ClientCert: "c.pem", ClientKey: "k.pem", QoS: 2, Buffer: true, SharedGroup: "g",
		Topics: mapping.Topics{Event: "ev/#", Heartbeat: "hbt", Policy: "shifts"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	var d mqtt.Config
	d.Flags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	if d.Port != 1883 || d.QoS != 1 || d.ClientID != "tocsin-agent" || d.Enabled() {
		t.Errorf("defaults: %+v", d)
	}
}
