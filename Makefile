# Halt for Go. Every module is listed in go.work; targets run over all of them.
SHELL   := /bin/bash
MODULES := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)
PKGS    := $(addsuffix /...,$(MODULES))
# Redis for the tests: a standalone server and a 3-node cluster on loopback.
export HALT_REDIS_ADDR    ?= 127.0.0.1:6390
export HALT_REDIS_CLUSTER ?= 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103
GOTESTFLAGS ?= -race -count=1 -shuffle=on -timeout=12m

.PHONY: test test-short demo bench lint vet fmt gowork-off tidy redis-up redis-down ci

## test: every module's tests with -race, against a real redis-server and Redis Cluster
test: redis-up
	@set -o pipefail; status=0; \
	go test $(GOTESTFLAGS) $(PKGS) || status=$$?; \
	$(MAKE) --no-print-directory redis-down; exit $$status

## test-short: the tests without -race (faster feedback)
test-short: redis-up
	@status=0; go test -count=1 $(PKGS) || status=$$?; $(MAKE) --no-print-directory redis-down; exit $$status

## demo: start the example app in-process and fire a burst at it
demo:
	@cd examples && go run ./demo

## bench: benchmarks side by side with peer libraries (see bench/README.md)
bench: redis-up
	@status=0; cd bench && ./run.sh || status=$$?; cd .. && $(MAKE) --no-print-directory redis-down; exit $$status

## lint: gofmt, go vet, golangci-lint
lint: fmt vet
	@for m in $(MODULES); do (cd $$m && go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run --config $(CURDIR)/.golangci.yml ./...) || exit 1; done

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	go vet $(PKGS)

## gowork-off: each module builds and vets alone, as a user gets it
gowork-off:
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && GOWORK=off go build ./... && GOWORK=off go vet ./...) || exit 1; done

tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy) || exit 1; done

redis-up:
	@scripts/redis.sh start

redis-down:
	@scripts/redis.sh stop

ci: fmt vet gowork-off test
