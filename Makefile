# The two commands a newcomer needs are `make demo` and `make test`; both
# install what a fresh Debian machine lacks first.

GO ?= go

.PHONY: demo test deps build vet fmt check

## demo: three `soloist run` on a throwaway MariaDB; kill the leader; see the takeover
demo: deps
	$(GO) run ./cmd/soloist-demo

## test: every test, race detector on, against throwaway MariaDB servers
test: deps
	$(GO) test -race ./...

## build: the soloist binary in bin/
build:
	$(GO) build -o bin/soloist ./cmd/soloist

deps:
	@scripts/install-deps.sh

vet:
	$(GO) vet ./...

## fmt: fail when gofmt would change a file
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

check: vet fmt test
