# The two commands a newcomer needs are `make demo` and `make test`; both
# install what a fresh Debian machine lacks first. The long fault runs, the
# fuzzers and the benchmarks run on demand.

GO ?= go

.PHONY: demo test deps build vet fmt check faults fuzz bench bench-quick screenshot

## demo: three `soloist run` on a throwaway MariaDB; kill the leader; see the takeover
demo: deps
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

## bench: Soloist against ShedLock, Quartz and GET_LOCK; writes docs/benchmarks.md (about 40 minutes)
bench: deps build
	$(GO) run ./cmd/soloist-bench --soloist bin/soloist

## bench-quick: the same with fewer repetitions (a few minutes)
bench-quick: deps build
	$(GO) run ./cmd/soloist-bench --soloist bin/soloist --quick --out ""

## screenshot: docs/dashboard.png from the browser test
screenshot: deps
	SOLOIST_SCREENSHOT=1 $(GO) test -count=1 -run TestDashboardInABrowser -v ./internal/cli

## build: the soloist binary in bin/
build:
	$(GO) build -o bin/soloist ./cmd/soloist

deps:
	@scripts/install-deps.sh chromium faketime galera-4

vet:
	$(GO) vet ./...

## fmt: fail when gofmt would change a file
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

check: vet fmt test
