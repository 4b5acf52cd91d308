# Halt for Go. Every module is listed in go.work; targets run over all of them.
SHELL   := /bin/bash
MODULES := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)
PKGS    := $(addsuffix /...,$(MODULES))
# Redis for the tests: a standalone server and a 3-node cluster on loopback.
# (Recipes call scripts/redis.sh rather than $(MAKE) redis-down, so that
# make -n prints them instead of running them.)
export HALT_REDIS_ADDR    ?= 127.0.0.1:6390
export HALT_REDIS_CLUSTER ?= 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103
GOTESTFLAGS ?= -race -count=1 -shuffle=on -timeout=12m
# The adapters' allocation checks (halttest.RunReuseTests) skip themselves
# under -race, whose pools drop entries at random: make test runs them again
# without it.
ALLOCPKGS := $(addsuffix /...,$(filter %/adapters/nethttp %/adapters/chi %/adapters/gin %/adapters/echo,$(MODULES)))

.PHONY: test test-short demo saas-demo bench lint vet fmt gowork-off tidy release-check bump release-tags redis-up redis-down ci

## test: every module's tests with -race, against a real redis-server and Redis Cluster; then the adapters' allocation checks without -race
test: redis-up
	@set -o pipefail; status=0; \
	go test $(GOTESTFLAGS) $(PKGS) || status=$$?; \
	go test -count=1 -run '^TestReuse$$' $(ALLOCPKGS) || status=$$?; \
	scripts/redis.sh stop; exit $$status

## test-short: the tests without -race (faster feedback)
test-short: redis-up
	@status=0; go test -count=1 $(PKGS) || status=$$?; scripts/redis.sh stop; exit $$status

## demo: start the example app in-process and fire a burst at it
demo:
	@cd examples && go run ./demo

## saas-demo: the SaaS example (plans, daily quotas, penalties) in-process, with a scripted session
saas-demo:
	@cd examples && go run ./saas -demo

## bench: benchmarks side by side with peer libraries (see bench/README.md)
bench: redis-up
	@status=0; cd bench && ./run.sh || status=$$?; cd .. && scripts/redis.sh stop; exit $$status

## lint: gofmt, go vet, golangci-lint
lint: fmt vet
	@for m in $(MODULES); do (cd $$m && go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run --allow-serial-runners --config $(CURDIR)/.golangci.yml ./...) || exit 1; done

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	go vet $(PKGS)

## gowork-off: each module builds and vets alone, as a user gets it
gowork-off:
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && GOWORK=off go build -o /dev/null ./... && GOWORK=off go vet ./...) || exit 1; done

## tidy: go mod tidy in every module, as users get it (GOWORK=off)
tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy) || exit 1; done

# Releases (RELEASING.md). VERSION is the version every published module gets.
need-version:
	@case "$(VERSION)" in v*.*.*) ;; *) echo "usage: make $(MAKECMDGOALS) VERSION=vX.Y.Z" >&2; exit 2 ;; esac

## release-check: the modules at VERSION install, and every README block compiles, as users get them
release-check: need-version
	@go run ./tools/releasecheck check $(VERSION)

## bump: every in-repo requirement of every go.mod names VERSION
bump: need-version
	@go run ./tools/releasecheck bump $(VERSION)

## release-tags: tag every published module <dir>/VERSION at HEAD, in dependency order (does not push)
release-tags: need-version
	@git diff --quiet HEAD -- || { echo "release-tags: commit or stash your changes first" >&2; exit 1; }
	@tags=$$(go run ./tools/releasecheck tags $(VERSION)) || exit 1; \
	for t in $$tags; do git tag -a "$$t" -m "$$t" || exit 1; echo "$$t"; done

redis-up:
	@scripts/redis.sh start

redis-down:
	@scripts/redis.sh stop

## ci: what .ci/run runs (VERSION defaults to the version the go.mod files name)
ci: lint gowork-off
	@$(MAKE) --no-print-directory release-check VERSION=$(or $(VERSION),v0.2.0)
	@$(MAKE) --no-print-directory test
