module github.com/halt-go/halt/examples

go 1.25

require (
	github.com/halt-go/halt/adapters/nethttp v0.0.0
	github.com/halt-go/halt/core v0.0.0
	github.com/halt-go/halt/presets v0.0.0
	github.com/halt-go/halt/stores/memory v0.0.0
)

replace (
	github.com/halt-go/halt/adapters/nethttp => ../adapters/nethttp
	github.com/halt-go/halt/core => ../core
	github.com/halt-go/halt/presets => ../presets
	github.com/halt-go/halt/stores/memory => ../stores/memory
)
