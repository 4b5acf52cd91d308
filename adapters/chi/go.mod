module github.com/halt-go/halt/adapters/chi

go 1.25.0

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/halt-go/halt/adapters/nethttp v0.2.0
	github.com/halt-go/halt/core v0.2.0
	github.com/halt-go/halt/stores/memory v0.2.0
)

require go.uber.org/goleak v1.3.0

replace (
	github.com/halt-go/halt/adapters/nethttp => ../nethttp
	github.com/halt-go/halt/core => ../../core
	github.com/halt-go/halt/stores/memory => ../../stores/memory
)
