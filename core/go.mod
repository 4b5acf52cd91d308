module github.com/halt-go/halt/core

go 1.25.0
