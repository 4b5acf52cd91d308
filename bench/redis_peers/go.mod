module github.com/halt-go/halt/bench/redis_peers

go 1.26.0

require (
	github.com/go-redis/redis_rate/v10 v10.0.1
	github.com/halt-go/halt/core v0.2.0
	github.com/halt-go/halt/stores/redis v0.2.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/ulule/limiter/v3 v3.11.2
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace (
	github.com/halt-go/halt/core => ../../core
	github.com/halt-go/halt/stores/memory => ../../stores/memory
	github.com/halt-go/halt/stores/redis => ../../stores/redis
)
