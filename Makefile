# costwarden — the documented way to build, run, test, lint and benchmark.
# The machine's own Go may be older or carry known vulnerabilities in its standard
# library: every target uses go1.27.3, which the go command fetches itself.
export GOTOOLCHAIN := go1.27.3
export CGO_ENABLED ?= 0

GO       ?= go
BIN      ?= bin/costwarden
DATA_DIR ?= .data
LISTEN   ?= 127.0.0.1:8443
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)
IMAGE_CONTEXT     ?= bin/image-context.tar.gz
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: build run test test-short tools lint bench clean manifests image-context vulndb vulncheck secretscan sec

## build: the static binary in bin/
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/costwarden

## run: the server with the simulated demo cluster on the embedded store
run: build
	@echo "costwarden: data in $(DATA_DIR); serving https://$(LISTEN) (self-signed certificate)."
	@echo "costwarden: in another terminal create a user and a token:"
	@echo "  $(BIN) user add admin --role admin --data-dir $(DATA_DIR)"
	@echo "  export T=\$$($(BIN) token create --user admin --data-dir $(DATA_DIR))"
	@echo "  curl -k -H \"Authorization: Bearer \$$T\" 'https://$(LISTEN)/allocation?window=7d&aggregate=namespace'"
	$(BIN) serve --demo --data-dir $(DATA_DIR) --listen $(LISTEN)

## tools: install the programs the tests drive (openssl, ...) when missing
tools:
	@scripts/ensure-tools.sh

TEST_LOG_DIR ?= $(CURDIR)/.testlogs

## test: every test, with the race detector; the end-to-end harnesses keep their
## servers' logs and the secrets they used in TEST_LOG_DIR, and a last test
## (internal/logscan) fails if any secret reached a log
test: tools
	rm -rf $(TEST_LOG_DIR) && mkdir -p $(TEST_LOG_DIR)
	COSTWARDEN_TEST_LOG_DIR=$(TEST_LOG_DIR) CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m ./...
	COSTWARDEN_TEST_LOG_DIR=$(TEST_LOG_DIR) $(GO) test -count=1 -tags logscan -v -run TestSuiteLogsHoldNoSecrets ./internal/logscan

## test-short: the fast unit tests only
test-short:
	CGO_ENABLED=1 $(GO) test -race -short -count=1 ./...

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## bench: the benchmark report: every package's Go benchmarks (seal/open throughput,
## encryption overhead), then internal/bench/report (the demo server at 10,000 pods x
## 30 days and the cost-engine benchmarks on its data), then internal/bench/agentload
## (50 agents of 500 pods pushing a day at once into 2 replicas on PostgreSQL); each
## figure next to its target
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $$($(GO) list ./... | grep -v /internal/bench) | tee bench.out
	@awk '/^Benchmark(Seal|Open)\/1MiB/ { for (i = 1; i <= NF; i++) if ($$i == "MB/s") printf "report: %s %s MB/s on one core (target >= 1000 MB/s per core)\n", $$1, $$(i-1) } \
	  /^BenchmarkQueryEncryptionOverhead/ { for (i = 1; i <= NF; i++) if ($$i == "overhead-%") printf "report: query overhead of encryption %s %% (target <= 10 %%)\n", $$(i-1) }' bench.out
	$(GO) run ./internal/bench/report | tee -a bench.out
	$(GO) run ./internal/bench/agentload | tee -a bench.out

## image-context: the container build context, reproducible: deploy/docker/Dockerfile
## as Dockerfile, go.mod, go.sum, cmd, internal and web (tracked files, no tests), in
## name order, owner 0, every mtime the last commit's; then its SHA-256. No Docker
## engine is needed to make it; build the image wherever one runs (docs/install.md).
image-context:
	@mkdir -p $(dir $(IMAGE_CONTEXT))
	@git ls-files -- go.mod go.sum cmd internal web deploy/docker/Dockerfile \
	  | grep -v -e '_test\.go$$' -e '/testdata/' | LC_ALL=C sort > $(IMAGE_CONTEXT).files
	@tar --create --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	  --mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner --mode='u=rwX,go=rX' \
	  --no-recursion --transform='s,^deploy/docker/Dockerfile$$,Dockerfile,' -T $(IMAGE_CONTEXT).files \
	  | gzip -n -9 > $(IMAGE_CONTEXT)
	@rm -f $(IMAGE_CONTEXT).files
	@cd $(dir $(IMAGE_CONTEXT)) && sha256sum $(notdir $(IMAGE_CONTEXT)) > $(notdir $(IMAGE_CONTEXT)).sha256
	@cat $(IMAGE_CONTEXT).sha256
	@echo "image-context: docker build -t costwarden:$(VERSION) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) - < $(IMAGE_CONTEXT)"

## manifests: regenerate deploy/manifests (plain manifests for users without Helm)
## from the chart and its example presets; a test fails when they are out of date
manifests:
	$(GO) test ./deploy/helm/charttest -run '^TestManifestsAreCurrent$$' -count=1 -update

## Supply chain (issue 7). The vulnerability database is built offline from the
## golang.org/x/vulndb module (fetched like any module), so govulncheck needs no
## network at scan time.
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
VULNDB_DIR     ?= $(CURDIR)/.cache/vulndb

## vulndb: the offline Go vulnerability database in VULNDB_DIR
vulndb:
	@src=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/.*"Dir": "\(.*\)",/\1/p'); \
	  test -n "$$src" || { echo "vulndb: could not download golang.org/x/vulndb@$(VULNDB_VERSION)"; exit 1; }; \
	  $(GO) run ./internal/vulndb -src "$$src/data/osv" -out $(VULNDB_DIR)

## vulncheck: govulncheck against the offline database (fails on a reachable vulnerability)
vulncheck: vulndb
	$(GO) tool govulncheck -db file://$(VULNDB_DIR) ./...

## secretscan: gitleaks over the tree and the built binary
secretscan: build
	scripts/secretscan.sh . $(BIN)

GOSEC_RULES := $(shell awk '/^G[0-9]+/ {print $$1}' .ci/gosec-exclusions.txt | paste -sd, -)
GOSEC_DIRS  := $(shell awk '/^dir:/ {sub("dir:", "", $$1); print "-exclude-dir=" $$1}' .ci/gosec-exclusions.txt)

## sec: gosec with the reasoned exclusions of .ci/gosec-exclusions.txt
sec:
	$(GO) tool gosec -quiet -exclude=$(GOSEC_RULES) $(GOSEC_DIRS) ./...

clean:
	rm -rf bin bench.out .cache
