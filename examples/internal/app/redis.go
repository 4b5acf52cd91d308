package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// openRedis opens the Redis store for HALT_REDIS_URL: a redis:// or
// rediss:// URL means one server (redis.ParseURL), a comma-separated list of
// host:port seeds means a Redis Cluster.
func openRedis(url string) (halt.Store, io.Closer, error) {
	var client redis.UniversalClient
	if strings.Contains(url, "://") {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, fmt.Errorf("HALT_REDIS_URL: %w", err)
		}
		opt.ContextTimeoutEnabled = true // as stores/redis/README.md recommends
		client = redis.NewClient(opt)
	} else {
		var seeds []string
		for _, s := range strings.Split(url, ",") {
			if s = strings.TrimSpace(s); s != "" {
				seeds = append(seeds, s)
			}
		}
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: seeds, ContextTimeoutEnabled: true})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("HALT_REDIS_URL=%s: redis unreachable: %w", url, err)
	}
	store, err := haltredis.New(client)
	if err != nil {
		_ = client.Close()
		return nil, nil, err
	}
	return store, closers{store, client}, nil
}

// closers closes the store, then its client.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
