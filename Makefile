# The two commands a newcomer needs are `make demo` and `make test`; both
# install what a fresh Debian machine lacks first.

GO ?= go

.PHONY: test deps vet fmt check

## test: every test, race detector on, against throwaway MariaDB servers
test: deps
	$(GO) test -race ./...

deps:
	@scripts/install-deps.sh

vet:
	$(GO) vet ./...

## fmt: fail when gofmt would change a file
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

check: vet fmt test
