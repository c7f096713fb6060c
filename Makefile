# tipgate — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/tipgate/tipgate/internal/app.Version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
FUZZTIME ?= 15s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/tipgate and bin/tipsim (static)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tipgate ./cmd/tipgate
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tipsim ./cmd/tipsim

.PHONY: run
run: ## run the demo: built-in TIP simulator, generated credentials, in-memory cache, on 127.0.0.1:8080
	$(GO) run ./cmd/tipgate demo

.PHONY: test
test: ## run every test (unit and integration, real Redis and simulator over mTLS, the console in headless Chromium) with the race detector, the memory store's RSS check without it, then deploy/'s
	@scripts/ensure-redis.sh
	@scripts/ensure-chromium.sh
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run TestMemoryRSS ./internal/cache/
	cd deploy && $(GO) test -count=1 ./...

.PHONY: lint
lint: ## gofmt, go vet, go mod tidy and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	cd deploy && $(GO) vet ./... && $(GO) mod tidy -diff && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 15s)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

.PHONY: bench
bench: ## run the Go benchmarks, allocations reported (the Redis ones start a redis-server or use 127.0.0.1:6379)
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: load
load: ## tipgate hits beside the static ceiling with wrk on loopback, one run, ratios printed (needs wrk, curl; DUR, KEYS)
	bench/load.sh

.PHONY: burst
burst: ## row (i) of the peer harness alone: 200 concurrent cold lookups on a fresh tipgate, TIP at 200 ms (RUNS=5; needs ../shared/bench)
	bench/burst.sh

.PHONY: peers
peers: ## the shared peer harness (../shared/bench/run-peers.sh) on this checkout, when it is there
	@if [ -f ../shared/bench/run-peers.sh ]; then TIPGATE_SRC=. bash ../shared/bench/run-peers.sh; \
	else echo "make peers: ../shared/bench/run-peers.sh not found: the shared peer harness lives beside the project checkout (see BENCHMARKS.md)"; exit 1; fi

.PHONY: docker
docker: ## build the container image tipgate:$(VERSION)
	docker build --build-arg VERSION=$(VERSION) -t tipgate:$(VERSION) .

.PHONY: up
up: ## start tipgate and Redis with docker compose (add --profile sim for the simulator)
	docker compose up -d

.PHONY: down
down: ## stop the compose stack
	docker compose down

.PHONY: clean
clean: ## remove build output
	rm -rf bin cover.out
