module github.com/halt-go/halt/stores/memory

go 1.25.0

require github.com/halt-go/halt/core v0.2.0

replace github.com/halt-go/halt/core => ../../core
