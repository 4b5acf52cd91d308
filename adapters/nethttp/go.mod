module github.com/halt-go/halt/adapters/nethttp

go 1.25.0

require github.com/halt-go/halt/core v0.2.0

require github.com/halt-go/halt/stores/memory v0.2.0

require go.uber.org/goleak v1.3.0

replace (
	github.com/halt-go/halt/core => ../../core
	github.com/halt-go/halt/stores/memory => ../../stores/memory
)
