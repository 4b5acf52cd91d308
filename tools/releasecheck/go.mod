module github.com/halt-go/halt/tools/releasecheck

go 1.25.0

require golang.org/x/mod v0.37.0
