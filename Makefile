# The test command is `make test`: it installs what is missing, then vets,
# runs every test with the race detector, and fuzzes the wire decoder briefly.
GO ?= go
FUZZTIME ?= 30s

.PHONY: test deps vet unit fuzz bench build

test: deps vet unit fuzz

deps:
	./scripts/deps.sh

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./protocol

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./coordinator/engine

build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/vigil-coordinator
