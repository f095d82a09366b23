# flexlabel — `make` (or `make help`) lists the targets.

SHELL       := /bin/bash
GO          ?= go
PKGS        ?= ./...
BIN         ?= bin/flexlabel
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X github.com/flexlabel/flexlabel/flexapi.Version=$(VERSION)
# Pinned so a new staticcheck release cannot fail a build that passed yesterday.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
TESTFLAGS   ?=

.DEFAULT_GOAL := help
.PHONY: help build test bench lint chaos promtool screenshots tidy-check clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/flexlabel, stamped with `git describe` (or "dev")
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/flexlabel

test: ## Run all tests with the race detector (real Redis: see queue/queuetest)
	$(GO) test -race -count=1 $(TESTFLAGS) $(PKGS)

bench: ## Run the benchmarks (one package at a time); each prints its ratio to a baseline measured in the same run
	$(GO) test -p 1 -count=1 -run '^$$' -bench . -benchtime 1x $(TESTFLAGS) ./worker/ ./cmd/flexlabel/ ./internal/bulkrun/ ./internal/bulkfile/ ./internal/hooks/ ./internal/store/ ./queue/ 2>&1 | tee bench.out | grep -E '^(Benchmark|ok|FAIL|---)|bench_test.go'
	@echo "full output in bench.out; results are written up in docs/PERFORMANCE.md" 

lint: ## gofmt, go vet, and staticcheck when it can be fetched
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: not formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	@if $(GO) run $(STATICCHECK) -version >/dev/null 2>&1; then \
		echo "$(GO) run $(STATICCHECK) $(PKGS)"; \
		$(GO) run $(STATICCHECK) $(PKGS); \
	else \
		echo "lint: staticcheck could not be fetched or built (offline?); skipped"; \
	fi

chaos: ## Run the fault-injection tests (build tag chaos; kill and restart Redis)
	$(GO) test -count=1 -tags chaos -run Chaos -v $(TESTFLAGS) ./cmd/flexlabel/ 2>&1 | tee chaos.out | grep -E '^(chaos:|--- FAIL|FAIL|ok|PASS)'; test $${PIPESTATUS[0]} -eq 0

promtool: ## Check the alert rules with Prometheus' promtool (check rules, test rules: deploy/prometheus/)
	cd deploy/prometheus && promtool check rules alerts.yaml && promtool test rules alerts_test.yaml

screenshots: ## Regenerate docs/screenshots/*.png: the browser test drives the console in headless Chromium
	FLEXLABEL_SCREENSHOTS=docs/screenshots $(GO) test -count=1 -run '^TestBrowser_Console$$' -v $(TESTFLAGS) ./cmd/flexlabel/ 2>&1 | tee screenshots.out | grep -E '^(\s*--- |FAIL|ok|PASS)|screenshot: '; test $${PIPESTATUS[0]} -eq 0

tidy-check: ## Fail if `go mod tidy` changes go.mod or go.sum (it rewrites them)
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

clean: ## Remove build output
	rm -rf bin
