// Package kafka is the agent's Kafka consumer (franz-go). It reads the event, heartbeat and
// policy topics in a consumer group and commits a record's offset only when the record is
// done: the server took it, or it is in the agent's buffer, or it failed for good (logged,
// counted). A record that failed for now is tried again, after a growing wait, before any
// later record of its partition: the consumer seeks back to it instead of skipping ahead.
// An agent killed at any moment leaves its uncommitted records to the group, which hands
// them out again (at-least-once).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/dispatch"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

// pollRecords bounds a batch, so that a batch is handled well within the group's rebalance
// timeout even when the server is slow.
const pollRecords = 50

// Consumer consumes Kafka records.
type Consumer struct {
	cfg      Config
	dispatch *dispatch.Dispatcher
	log      *slog.Logger
	lag      *prometheus.GaugeVec

	// rebalance is set when the group wants to rebalance while a batch blocks it: the batch
	// stops before the next record (or run of buffered records) and hands the rest back.
	rebalance atomic.Bool

	mu       sync.Mutex
	ready    bool
	err      string
	assigned map[string][]int32
	lags     map[string]int64 // by "topic/partition"
}

var _ consumer.Consumer = (*Consumer)(nil)

// New returns a Kafka consumer. buf is the agent's buffer, used only with cfg.Buffer; obs
// see every record; metrics go to reg (nil: none).
func New(cfg Config, m mapping.Options, p mapping.PolicyOptions, c *client.Client, buf consumer.Buffer,
	obs []consumer.Observer, reg prometheus.Registerer, log *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := dispatch.New(dispatch.Config{Source: "kafka", Topics: cfg.Topics, Events: m, Policies: p, Client: c,
		Buffered: cfg.Buffer, Buffer: buf, Observers: obs, Log: log}, reg)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	cn := &Consumer{cfg: cfg.withDefaults(), dispatch: d, log: d.Log(),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tocsin_agent_kafka_lag",
			Help: "Records of a partition not yet handled by this agent, as of its last fetch."}, []string{"topic", "partition"}),
		assigned: map[string][]int32{}, lags: map[string]int64{}}
	if reg != nil {
		if err := reg.Register(cn.lag); err != nil {
			return nil, fmt.Errorf("kafka: register metrics: %w", err)
		}
	}
	return cn, nil
}

// Status is the consumer's readiness: a broker answered and the consumer runs. Its details
// name the partitions the group gave this agent and its lag.
func (c *Consumer) Status() consumer.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	assigned := map[string][]int32{}
	for t, ps := range c.assigned {
		assigned[t] = append([]int32(nil), ps...)
	}
	var lag int64
	for _, l := range c.lags {
		lag += l
	}
	return consumer.Status{Component: "kafka", Ready: c.ready, Error: c.err,
		Details: map[string]any{"group": c.cfg.GroupID, "assigned": assigned, "lag": lag}}
}

func (c *Consumer) setReady(ready bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready, c.err = ready, ""
	if err != nil {
		c.err = err.Error()
	}
}

// Run consumes until ctx ends, and then leaves the group. It returns an error only when the
// client cannot be made (a bad configuration).
func (c *Consumer) Run(ctx context.Context) error {
	start := kgo.NewOffset().AtEnd()
	if c.cfg.Start == "earliest" {
		start = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.cfg.brokers()...),
		kgo.ConsumerGroup(c.cfg.GroupID),
		kgo.ConsumeTopics(c.cfg.Topics.All()...),
		kgo.ConsumeResetOffset(start),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { c.rebalance.Store(true) }),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { c.assign(ps, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { c.assign(ps, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { c.assign(ps, false) }),
		kgo.WithLogger(logger{c.log}),
	)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer func() {
		c.setReady(false, nil)
		cl.Close() // leaves the group, so that the others take the partitions at once
	}()
	backoff := dispatch.Backoff{Min: c.cfg.RetryBackoff, Max: c.cfg.MaxBackoff}
	for !c.connect(ctx, cl, &backoff) {
		if ctx.Err() != nil {
			return nil
		}
	}
	backoff.Reset()
	c.log.InfoContext(ctx, "Kafka consumer started", "brokers", c.cfg.Brokers, "group", c.cfg.GroupID, "topics", c.cfg.Topics.All())
	for {
		c.rebalance.Store(false) // before the poll: a rebalance blocked by this batch sets it
		fetches := cl.PollRecords(ctx, pollRecords)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			cl.AllowRebalance()
			return nil
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				fetchErr = err
				c.log.WarnContext(ctx, "fetching failed", "topic", topic, "partition", p, "err", err)
			}
		})
		c.setReady(true, fetchErr)
		handled, failed := c.handle(ctx, cl, fetches)
		cl.AllowRebalance()
		switch {
		case failed:
			wait := backoff.Next()
			c.log.WarnContext(ctx, "a record failed; trying it again", "wait", wait)
			if !dispatch.Sleep(ctx, wait) {
				return nil
			}
		case handled > 0:
			backoff.Reset()
		}
	}
}

// connect waits until a broker answers, so that readiness means something.
func (c *Consumer) connect(ctx context.Context, cl *kgo.Client, backoff *dispatch.Backoff) bool {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := cl.Ping(pctx)
	cancel()
	if err == nil {
		c.setReady(true, nil)
		return true
	}
	c.setReady(false, err)
	wait := backoff.Next()
	c.log.WarnContext(ctx, "no Kafka broker answers", "brokers", c.cfg.Brokers, "err", err, "wait", wait)
	dispatch.Sleep(ctx, wait)
	return false
}

// handle handles a batch in order, partition by partition, commits the records that are
// done, and seeks back to the first record not done in each partition (after one that failed
// for now, or when the group wants to rebalance), so that none is skipped. It returns how
// many records were done and whether one failed.
func (c *Consumer) handle(ctx context.Context, cl *kgo.Client, fetches kgo.Fetches) (handled int, failed bool) {
	var done []*kgo.Record
	rewind := map[string]map[int32]kgo.EpochOffset{}
	seekBack := func(r *kgo.Record) {
		if rewind[r.Topic] == nil {
			rewind[r.Topic] = map[int32]kgo.EpochOffset{}
		}
		// A partition can come twice in one poll: back to the lowest record not done.
		if at, ok := rewind[r.Topic][r.Partition]; ok && at.Offset <= r.Offset {
			return
		}
		rewind[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
	}
	// stop ends a partition's records at the first not started when the group wants to
	// rebalance: a slow server must not hold the group back for a whole batch.
	stopped := false
	stop := func() bool {
		stopped = stopped || c.rebalance.Load()
		return stopped
	}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		if failed || stop() {
			seekBack(p.Records[0])
			return
		}
		// A partition's records are handled together (buffered with one disk sync), in order,
		// up to the first that failed for now or, when the group wants to rebalance, the first
		// not started.
		ms := make([]consumer.Message, len(p.Records))
		ids := make([]string, len(p.Records))
		for i, r := range p.Records {
			ms[i] = consumer.Message{Source: "kafka", Topic: r.Topic, Key: string(r.Key), Payload: r.Value, At: r.Timestamp}
			ids[i] = fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
		}
		n := c.dispatch.HandleAll(ctx, ms, ids, stop)
		done = append(done, p.Records[:n]...)
		if n < len(p.Records) {
			failed = !stopped
			seekBack(p.Records[n])
			return
		}
		last := p.Records[n-1]
		c.setLag(last.Topic, last.Partition, p.HighWatermark-last.Offset-1)
	})
	if len(done) > 0 {
		// Committed even when ctx ended (a shutdown): these records are done.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := cl.CommitRecords(cctx, done...)
		cancel()
		if err != nil {
			c.log.WarnContext(ctx, "committing offsets failed; those records will come again", "err", err)
		}
	}
	if len(rewind) > 0 {
		cl.SetOffsets(rewind)
	}
	return len(done), failed
}

func (c *Consumer) assign(ps map[string][]int32, add bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, parts := range ps {
		for _, p := range parts {
			if add {
				c.assigned[t] = append(c.assigned[t], p)
				continue
			}
			for i, q := range c.assigned[t] {
				if q == p {
					c.assigned[t] = append(c.assigned[t][:i], c.assigned[t][i+1:]...)
					break
				}
			}
			if len(c.assigned[t]) == 0 {
				delete(c.assigned, t)
			}
			key := t + "/" + strconv.Itoa(int(p))
			delete(c.lags, key)
			c.lag.DeleteLabelValues(t, strconv.Itoa(int(p)))
		}
	}
	c.log.Info("the group assigned partitions", "assigned", c.assigned)
}

func (c *Consumer) setLag(topic string, partition int32, lag int64) {
	lag = max(lag, 0)
	c.mu.Lock()
	c.lags[topic+"/"+strconv.Itoa(int(partition))] = lag
	c.mu.Unlock()
	c.lag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(lag))
}

// logger passes franz-go's log lines to slog, a level lower: what franz-go calls info (every
// group join, every connection) is debug detail for the agent.
type logger struct{ log *slog.Logger }

func (l logger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		l.log.Warn(msg, keyvals...)
	case kgo.LogLevelWarn:
		l.log.Info(msg, keyvals...)
	default:
		l.log.Debug(msg, keyvals...)
	}
}
