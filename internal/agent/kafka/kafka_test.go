package kafka_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/kafka"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
	"github.com/tocsinhq/tocsin/internal/agent/mqtt"
)

const integrationKey = "il1api0123456789abcdefghij"

var byText = mapping.Options{EventKey: integrationKey, MapKeySummary: "text"}

// cluster is an in-process Kafka with the topics events (2 partitions), hbt and shifts.
func cluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events", "hbt", "shifts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// produce writes values to one partition of a topic, in order.
func produce(t *testing.T, c *kfake.Cluster, topic string, partition int32, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Key: []byte("key-" + v), Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func texts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"text": "%s%d"}`, prefix, i)
	}
	return out
}

func summaries(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func testConfig(c *kfake.Cluster, group string) kafka.Config {
	return kafka.Config{Brokers: c.ListenAddrs()[0], GroupID: group, Start: "earliest", Topics: mapping.Topics{Event: "events", Heartbeat: "hbt", Policy: "shifts"},
		RetryBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
}

type running struct {
	*kafka.Consumer
	reg  *prometheus.Registry
	stop func()
}

// start runs a consumer until the test ends or stop is called, and waits until it is ready.
func start(t *testing.T, cfg kafka.Config, srv *agenttest.Server, buf consumer.Buffer, obs ...consumer.Observer) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel}))
	cn, err := kafka.New(cfg, byText, mapping.PolicyOptions{PolicyRoutingKeys: "site"}, client.New(srv.URL, ""), buf, obs, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := agenttest.Run(t, cn)
	agenttest.Eventually(t, 10*time.Second, "the consumer is not ready", func() bool { return cn.Status().Ready })
	return &running{Consumer: cn, reg: reg, stop: stop}
}

// byPartition splits summaries "p0-3" by their prefix.
func count(got []string) map[string]int {
	n := map[string]int{}
	for _, s := range got {
		n[s]++
	}
	return n
}

func TestDeliversOnceAndCommits(t *testing.T) {
	c := cluster(t)
	srv := agenttest.NewServer(t)
	obs := &agenttest.Recorder{}
	produce(t, c, "events", 0, texts("a", 5)...)
	produce(t, c, "events", 1, texts("b", 5)...)
	produce(t, c, "hbt", 0, `{"integrationKey": "il1hbt-pump"}`)
	first := start(t, testConfig(c, "g1"), srv, nil, obs)

	agenttest.Eventually(t, 10*time.Second, "not delivered", func() bool { return len(srv.Summaries()) == 10 })
	agenttest.Eventually(t, 5*time.Second, "no ping", func() bool { return len(srv.Pings()) == 1 })
	var a, b []string
	for _, s := range srv.Summaries() {
		if s[0] == 'a' {
			a = append(a, s)
		} else {
			b = append(b, s)
		}
	}
	if !slices.Equal(a, summaries("a", 5)) || !slices.Equal(b, summaries("b", 5)) {
		t.Errorf("out of order within a partition: %q", srv.Summaries())
	}
	ev := srv.Events()[0]
	if string(ev.CustomDetails) != `{"messageKey":"key-{\"text\": \"a0\"}","topic":"events"}` && string(ev.CustomDetails) != `{"messageKey":"key-{\"text\": \"b0\"}","topic":"events"}` {
		t.Errorf("customDetails %s", ev.CustomDetails)
	}
	// Each message is shown to the observers once it is done, just after the server took it.
	agenttest.Eventually(t, 5*time.Second, "the observer did not see all 11 messages", func() bool { return len(obs.Messages()) == 11 })

	// The offsets were committed: the next consumer of the group starts after them.
	first.stop()
	start(t, testConfig(c, "g1"), srv, nil)
	produce(t, c, "events", 0, `{"text": "later"}`)
	agenttest.Eventually(t, 10*time.Second, "the later record was not delivered", func() bool { return len(srv.Summaries()) == 11 })
	time.Sleep(300 * time.Millisecond)
	for s, n := range count(srv.Summaries()) {
		if n != 1 {
			t.Errorf("%s delivered %d times", s, n)
		}
	}
}

// TestServerOutage: a record that fails for now is tried again before any later record of its
// partition; once the server is back every record arrives, in order, once.
func TestServerOutage(t *testing.T) {
	c := cluster(t)
	srv := agenttest.NewServer(t)
	srv.SetStatus(http.StatusServiceUnavailable)
	produce(t, c, "events", 0, texts("a", 5)...)
	start(t, testConfig(c, "g1"), srv, nil)
	agenttest.Eventually(t, 10*time.Second, "no retries", func() bool { return srv.FailedAttempts() >= 4 })
	if got := srv.Summaries(); len(got) != 0 {
		t.Fatalf("delivered during the outage: %q", got)
	}
	srv.SetStatus(http.StatusAccepted)
	produce(t, c, "events", 0, texts("b", 2)...)
	agenttest.Eventually(t, 10*time.Second, "the backlog did not drain", func() bool { return len(srv.Summaries()) >= 7 })
	time.Sleep(200 * time.Millisecond)
	if got, want := srv.Summaries(), append(summaries("a", 5), summaries("b", 2)...); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestRestartMidway: a consumer stopped in the middle of a backlog, and one stopped while the
// server is down, leave every record they did not finish to the next consumer of the group.
func TestRestartMidway(t *testing.T) {
	c := cluster(t)
	srv := agenttest.NewServer(t)
	srv.SetDelay(5 * time.Millisecond)
	produce(t, c, "events", 0, texts("a", 30)...)
	produce(t, c, "events", 1, texts("b", 30)...)
	first := start(t, testConfig(c, "g1"), srv, nil)
	agenttest.Eventually(t, 10*time.Second, "nothing delivered", func() bool { return len(srv.Summaries()) >= 10 })
	first.stop()
	if n := len(srv.Summaries()); n >= 60 {
		t.Fatalf("the first consumer finished everything (%d) before it was stopped", n)
	}

	srv.SetStatus(http.StatusInternalServerError)
	second := start(t, testConfig(c, "g1"), srv, nil)
	agenttest.Eventually(t, 10*time.Second, "no attempt", func() bool { return srv.FailedAttempts() >= 1 })
	second.stop()

	srv.SetStatus(http.StatusAccepted)
	srv.SetDelay(0)
	start(t, testConfig(c, "g1"), srv, nil)
	want := append(summaries("a", 30), summaries("b", 30)...)
	agenttest.Eventually(t, 15*time.Second, "records were lost", func() bool {
		n := count(srv.Summaries())
		for _, s := range want {
			if n[s] == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("%d deliveries of %d records", len(srv.Summaries()), len(want))
}

// TestGroupSharesPartitions: two agents of one group each take one of the two partitions.
func TestGroupSharesPartitions(t *testing.T) {
	c := cluster(t)
	srvA, srvB := agenttest.NewServer(t), agenttest.NewServer(t)
	a := start(t, testConfig(c, "shared"), srvA, nil)
	b := start(t, testConfig(c, "shared"), srvB, nil)
	one := func(r *running) bool {
		got, _ := r.Status().Details["assigned"].(map[string][]int32)
		return len(got["events"]) == 1
	}
	agenttest.Eventually(t, 30*time.Second, "the partitions were not shared", func() bool { return one(a) && one(b) })

	produce(t, c, "events", 0, texts("a", 10)...)
	produce(t, c, "events", 1, texts("b", 10)...)
	agenttest.Eventually(t, 10*time.Second, "not delivered", func() bool { return len(srvA.Summaries())+len(srvB.Summaries()) >= 20 })
	time.Sleep(200 * time.Millisecond)
	ga, gb := srvA.Summaries(), srvB.Summaries()
	if !(slices.Equal(ga, summaries("a", 10)) && slices.Equal(gb, summaries("b", 10))) &&
		!(slices.Equal(ga, summaries("b", 10)) && slices.Equal(gb, summaries("a", 10))) {
		t.Errorf("agent A got %q, agent B %q; want one partition each, in order, once", ga, gb)
	}
}

func TestMalformedRecordsAreCountedAndSkipped(t *testing.T) {
	c := cluster(t)
	srv := agenttest.NewServer(t)
	produce(t, c, "events", 0, `temperature=81`, `{"text": "ok"}`, `{"eventType": "ACCEPT"}`, `{"text": "ok2"}`)
	produce(t, c, "hbt", 0, `{}`)
	r := start(t, testConfig(c, "g1"), srv, nil)
	agenttest.Eventually(t, 10*time.Second, "not delivered", func() bool { return len(srv.Summaries()) == 2 })
	agenttest.Eventually(t, 5*time.Second, "not counted", func() bool {
		return agenttest.Counter(t, r.reg, "tocsin_agent_consumer_mapping_failures_total", nil) == 3
	})
	r.stop()
	r2 := start(t, testConfig(c, "g1"), srv, nil)
	produce(t, c, "events", 0, `{"text": "last"}`)
	agenttest.Eventually(t, 10*time.Second, "not delivered", func() bool { return len(srv.Summaries()) == 3 })
	if got := agenttest.Counter(t, r2.reg, "tocsin_agent_consumer_mapping_failures_total", nil); got != 0 {
		t.Errorf("the malformed records came again: %v", got)
	}
}

// TestBuffered: a record is committed once the buffer has it; a failed push is tried again.
func TestBuffered(t *testing.T) {
	c := cluster(t)
	srv := agenttest.NewServer(t)
	buf := &agenttest.Buffer{Fail: func(n int) bool { return n == 2 }}
	produce(t, c, "events", 0, texts("a", 3)...)
	produce(t, c, "shifts", 0, `{"site": "north", "data": {"email": "ada@example.com", "shift": 1}}`)
	cfg := testConfig(c, "g1")
	cfg.Buffer = true
	start(t, cfg, srv, buf)
	agenttest.Eventually(t, 10*time.Second, "not buffered", func() bool { return len(buf.Summaries()) == 3 && len(buf.Policies()) == 1 })
	if got := buf.Summaries(); !slices.Equal(got, summaries("a", 3)) {
		t.Errorf("buffered %q", got)
	}
	if got := srv.Summaries(); len(got) != 0 {
		t.Errorf("the server got events directly: %q", got)
	}
}

func TestValidate(t *testing.T) {
	ok := kafka.Config{Brokers: "k1:9092, k2:9092", GroupID: "g", Topics: mapping.Topics{Event: "events"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*kafka.Config){
		"ErrNoBrokers":   func(c *kafka.Config) { c.Brokers = " , " },
		"ErrNoTopic":     func(c *kafka.Config) { c.Topics = mapping.Topics{} },
		"ErrMQTTFilter":  func(c *kafka.Config) { c.Topics.Event = "plant/#" },
		"ErrNoGroup":     func(c *kafka.Config) { c.GroupID = "" },
		"ErrStartOffset": func(c *kafka.Config) { c.Start = "middle" },
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			edit(&c)
			if err := c.Validate(); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestFlags: the Kafka and MQTT consumers read the same -e/-r/--policy_topic, as in ilagent.
func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	var m mqtt.Config
	var k kafka.Config
	m.Flags(fs)
	k.Flags(fs)
	if err := fs.Parse([]string{"--kafka_brokers", "k1:9092", "--kafka_group_id", "ilagent", "--kafka_buffer", "-e", "events", "-r", "hbt", "--policy_topic", "shifts"}); err != nil {
		t.Fatal(err)
	}
	topics := mapping.Topics{Event: "events", Heartbeat: "hbt", Policy: "shifts"}
	want := kafka.Config{Brokers: "k1:9092", GroupID: "ilagent", Start: "latest", Buffer: true, Topics: topics}
	if !reflect.DeepEqual(k, want) {
		t.Errorf("got %+v, want %+v", k, want)
	}
	if !reflect.DeepEqual(m.Topics, topics) || m.Enabled() || !k.Enabled() {
		t.Errorf("mqtt: %+v", m)
	}
	var d kafka.Config
	d.Flags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	if d.GroupID != kafka.DefaultGroupID || d.Start != "latest" {
		t.Errorf("defaults %+v", d)
	}
}

var testLogLevel = slog.LevelWarn

// TestRebalanceDuringSlowBatch: an agent in the middle of a partition's records, each a slow
// send to the server, lets the group rebalance after the record in flight rather than after
// the whole batch: a second agent gets its partition promptly, and no record is lost.
func TestRebalanceDuringSlowBatch(t *testing.T) {
	const perPartition, delay = 50, 300 * time.Millisecond // a whole batch takes 15 s
	c := cluster(t)
	srvA, srvB := agenttest.NewServer(t), agenttest.NewServer(t)
	srvA.SetDelay(delay)
	produce(t, c, "events", 0, texts("a", perPartition)...)
	produce(t, c, "events", 1, texts("b", perPartition)...)
	cfg := testConfig(c, "slow")
	a := start(t, cfg, srvA, nil)
	agenttest.Eventually(t, 30*time.Second, "agent A delivered nothing", func() bool { return len(srvA.Summaries()) >= 1 })

	began := time.Now()
	b := start(t, cfg, srvB, nil)
	one := func(r *running) bool {
		got, _ := r.Status().Details["assigned"].(map[string][]int32)
		return len(got["events"]) == 1
	}
	agenttest.Eventually(t, 60*time.Second, "agent B got no partition", func() bool { return one(a) && one(b) })
	took := time.Since(began)
	t.Logf("agent B got its partition after %s", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("agent B got its partition after %s: the rebalance waited for agent A's batch", took.Round(time.Millisecond))
	}

	// Every record arrives, each partition's in order at each agent.
	srvA.SetDelay(0)
	want := append(summaries("a", perPartition), summaries("b", perPartition)...)
	agenttest.Eventually(t, 30*time.Second, "records were lost", func() bool {
		n := count(append(srvA.Summaries(), srvB.Summaries()...))
		for _, s := range want {
			if n[s] == 0 {
				return false
			}
		}
		return true
	})
	for name, got := range map[string][]string{"A": srvA.Summaries(), "B": srvB.Summaries()} {
		last := map[byte]int{'a': -1, 'b': -1}
		for _, s := range got {
			var i int
			fmt.Sscanf(s[1:], "%d", &i)
			if i < last[s[0]] {
				t.Errorf("agent %s got %s after %s%d: out of order (%q)", name, s, s[:1], last[s[0]], got)
				break
			}
			last[s[0]] = i
		}
	}
}

// TestStartsAtLatest: by default a new group starts at new records, as ilagent does, rather
// than replaying what the topic retains as new alerts.
func TestStartsAtLatest(t *testing.T) {
	c := cluster(t)
	srv := agenttest.NewServer(t)
	produce(t, c, "events", 0, texts("old", 3)...)
	var cfg kafka.Config
	cfg.Flags(flag.NewFlagSet("daemon", flag.ContinueOnError))
	cfg.Brokers, cfg.GroupID, cfg.Topics = c.ListenAddrs()[0], "new", mapping.Topics{Event: "events"}
	start(t, cfg, srv, nil)
	// The group takes its start when it is given the partition: produce until a record arrives.
	for i := 0; len(srv.Summaries()) == 0; i++ {
		if i == 100 {
			t.Fatal("no new record was delivered")
		}
		produce(t, c, "events", 0, fmt.Sprintf(`{"text": "new%d"}`, i))
		time.Sleep(100 * time.Millisecond)
	}
	for _, s := range srv.Summaries() {
		if strings.HasPrefix(s, "old") {
			t.Fatalf("a record older than the group was delivered: %q", srv.Summaries())
		}
	}
}

// TestSeekBackToLowest: when a partition comes twice in one poll and a record of the first
// part fails, the consumer seeks back to that record, not to the start of the second part.
func TestSeekBackToLowest(t *testing.T) {
	c := cluster(t)
	srv := agenttest.NewServer(t)
	produce(t, c, "events", 0, texts("a", 5)...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"events": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	poll := func(n int) []*kgo.Record {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var recs []*kgo.Record
		for len(recs) < n && ctx.Err() == nil {
			recs = append(recs, cl.PollRecords(ctx, n-len(recs)).Records()...)
		}
		if len(recs) < n {
			t.Fatalf("polled %d records, want %d", len(recs), n)
		}
		return recs
	}
	recs := poll(5)
	part := func(rs []*kgo.Record) kgo.Fetch {
		return kgo.Fetch{Topics: []kgo.FetchTopic{{Topic: "events", Partitions: []kgo.FetchPartition{{Partition: 0, Records: rs}}}}}
	}
	cn, err := kafka.New(testConfig(c, "unused"), byText, mapping.PolicyOptions{}, client.New(srv.URL, ""), nil, nil, nil,
		slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel})))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetStatus(http.StatusServiceUnavailable)
	if handled, failed := cn.HandleFetches(context.Background(), cl, kgo.Fetches{part(recs[:3]), part(recs[3:])}); handled != 0 || !failed {
		t.Fatalf("handled %d, failed %v; want 0, true", handled, failed)
	}
	if got := poll(1)[0]; got.Offset != recs[0].Offset {
		t.Errorf("after the failure the partition resumed at offset %d, want %d", got.Offset, recs[0].Offset)
	}
}
