module github.com/halt-go/halt/bench

go 1.26.0

require (
	github.com/halt-go/halt/adapters/nethttp v0.0.0
	github.com/halt-go/halt/core v0.0.0
	github.com/halt-go/halt/stores/memory v0.0.0
	github.com/sethvargo/go-limiter v0.7.1
	github.com/throttled/throttled/v2 v2.15.0
	github.com/ulule/limiter/v3 v3.11.2
	golang.org/x/time v0.16.0
)

require (
	github.com/hashicorp/golang-lru v0.5.4 // indirect
	github.com/pkg/errors v0.9.1 // indirect
)

replace (
	github.com/halt-go/halt/adapters/nethttp => ../adapters/nethttp
	github.com/halt-go/halt/core => ../core
	github.com/halt-go/halt/stores/memory => ../stores/memory
)
