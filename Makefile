# The two commands a newcomer needs are `make demo` and `make test`; both
# install what a fresh Debian machine lacks first. The long fault runs, the
# fuzzers and the benchmarks run on demand.

GO ?= go

.PHONY: demo test deps build dist cross vet fmt check faults fuzz bench bench-quick bench-balanced screenshot

## demo: three `soloist run` on a throwaway MariaDB; kill the leader; see the takeover
demo:
	@scripts/install-deps.sh
	$(GO) run ./cmd/soloist-demo

## test: every test, race detector on, against throwaway MariaDB servers (a few minutes)
test: deps
	$(GO) test -race ./...
	$(GO) test -count=1 -run 'TestFuzzedLinesReadAsSupercronicReadsThem' ./internal/crontab # 10^5 lines; -race compares 5,000

## faults: the long forms of the fault suite (docs/reliability.md; about an hour)
faults: deps
	SOLOIST_LONG=1 $(GO) test -count=1 -p 1 -parallel 1 -timeout 3h -v -run 'Test' ./internal/faults ./runner 2>&1 | tee faults.log | grep -E '^(=== RUN|--- |ok|FAIL)|FIGURES|shown:|took over|stopped its job'

## fuzz: each fuzz target for FUZZTIME (default 2m)
FUZZTIME ?= 2m
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/crontab
	$(GO) test -run '^$$' -fuzz '^FuzzParseDSN$$' -fuzztime $(FUZZTIME) ./internal/cli
	$(GO) test -run '^$$' -fuzz '^FuzzSettings$$' -fuzztime $(FUZZTIME) ./runner

## bench: Soloist against ShedLock, Quartz and GET_LOCK, and balanced mode against Quartz's cluster and db-scheduler; writes docs/benchmarks.md (about 50 minutes)
bench: deps build
	$(GO) run ./cmd/soloist-bench --soloist bin/soloist

## bench-quick: the same with fewer repetitions (a few minutes)
bench-quick: deps build
	$(GO) run ./cmd/soloist-bench --soloist bin/soloist --quick --out ""

## bench-balanced: balanced mode against Quartz's cluster and db-scheduler; rewrites only its section of docs/benchmarks.md (about 30 minutes)
bench-balanced: deps build
	$(GO) run ./cmd/soloist-bench --soloist bin/soloist --only balanced

## screenshot: docs/dashboard.png from the browser test
screenshot: deps
	SOLOIST_SCREENSHOT=1 $(GO) test -count=1 -run TestDashboardInABrowser -v ./internal/cli

## build: the soloist binary in bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/soloist ./cmd/soloist

# The version stamped into binaries: the git tag, or the commit.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/soloist-dev/soloist/internal/cli.Version=$(VERSION)
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

## dist: soloist for linux, darwin and windows on amd64 and arm64, with SHA256SUMS, in dist/
dist:
	rm -rf dist && mkdir -p dist
	@set -e; for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  out=dist/soloist-$(VERSION)-$$os-$$arch$$ext; echo "$$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$out ./cmd/soloist; \
	done
	cd dist && sha256sum soloist-* > SHA256SUMS

## cross: check that soloist and the runner library build on every dist platform
cross:
	@set -e; for p in $(PLATFORMS); do \
	  echo "build $$p"; GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/soloist ./runner; \
	done

deps:
	@scripts/install-deps.sh chromium faketime galera-4 iproute2

vet:
	$(GO) vet ./...

## fmt: fail when gofmt would change a file
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

check: vet fmt test
