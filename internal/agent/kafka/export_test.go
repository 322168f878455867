package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// HandleFetches lets the tests hand the consumer a poll they built.
func (c *Consumer) HandleFetches(ctx context.Context, cl *kgo.Client, fetches kgo.Fetches) (handled int, failed bool) {
	return c.handle(ctx, cl, fetches)
}
