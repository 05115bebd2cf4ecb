# The test command is `make test`: it installs what is missing, vets (also
# for Windows and macOS), builds the Windows agent, runs every test with the
# race detector (the end-to-end scenarios in e2e/ and the Windows agent
# under Wine included), and fuzzes the wire decoder briefly. `make run` runs Vigil
# here, with demo data (scripts/run.sh; Ctrl-C stops it).
GO ?= go
FUZZTIME ?= 30s

.PHONY: test deps vet unit unit-postgres fuzz bench build run e2e windows packages

test: deps vet windows packages unit unit-postgres fuzz

deps:
	./scripts/deps.sh

# Windows and macOS code cannot run here: vetting it for each target keeps
# it compiling and sound.
CROSS_TARGETS = windows/amd64 windows/arm64 darwin/amd64 darwin/arm64

vet:
	$(GO) vet ./...
	@set -e; for t in $(CROSS_TARGETS); do \
		echo "go vet ./... ($$t, CGO_ENABLED=0)"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) vet ./...; \
	done

# The Windows agent's tests under Wine run after the rest: Wine's own
# processes would otherwise compete with the timing scenarios for the CPU.
# The unmapped-user flood runs once more without the race detector, at the
# full 10,000 users (the race detector's run takes 500).
unit:
	$(GO) test -race -count=1 -timeout 30m -skip '^TestWine' ./...
	$(GO) test -race -count=1 -timeout 10m -run '^TestWine' ./cmd/vigil-agent ./installer
	$(GO) test -count=1 -timeout 5m -run '^TestAttackUnmappedFlood$$' ./coordinator

# The coordinator's suite once more on PostgreSQL: each package starts a
# private server (internal/pgtest) and each test gets its own database.
COORDINATOR_PKGS = ./coordinator/store ./coordinator ./coordinator/account ./coordinator/api \
	./coordinator/controller/builtin ./coordinator/controller/webhook ./coordinator/web \
	./cmd/vigil-coordinator

# Then the failover acceptance (internal/failover): two coordinator
# processes, 1,000 simulated agents, the leader killed and paused; without
# the race detector, which would slow the agents' simulation itself.
unit-postgres:
	VIGIL_TEST_STORE=postgres $(GO) test -race -count=1 -timeout 20m $(COORDINATOR_PKGS)
	VIGIL_TEST_STORE=postgres $(GO) test -count=1 -timeout 15m -v -run '^TestFailover$$' ./internal/failover

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./protocol

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./coordinator/engine

build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/vigil-coordinator

run:
	./scripts/run.sh

e2e:
	CI=true $(GO) test -race -count=1 -timeout 15m -v ./e2e

# The Windows agent with its microphone: cgo, mingw-w64, a static PortAudio
# built once into ~/.cache/vigil (scripts/build-windows.sh).
windows:
	GO=$(GO) ./scripts/build-windows.sh bin/windows-amd64/vigil-agent.exe

# The packages, into dist/ (git-ignored), versioned from `git describe`:
# vigil-agent and vigil-coordinator .deb and .rpm for amd64 and arm64 (the
# arm64 agent only where a cgo cross toolchain is installed, see
# docs/deploy.md), the Windows agent's exe and MSI. Signed when
# VIGIL_SIGN_PKCS12 + VIGIL_SIGN_PASSWORD (Authenticode) and
# VIGIL_GPG_KEY_FILE (+ VIGIL_GPG_PASSPHRASE) are set.
packages:
	GO=$(GO) $(GO) run ./installer/cmd/vigil-packages -out dist
