package app

import (
	"errors"
	"io"

	halt "github.com/halt-go/halt/core"
)

// openRedis opens the Redis store for HALT_REDIS_URL.
func openRedis(string) (halt.Store, io.Closer, error) {
	return nil, nil, errors.New("HALT_REDIS_URL: this build has no Redis store yet; unset it to use the memory store")
}
