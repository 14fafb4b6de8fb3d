# sspr — make help lists the targets.

GO        ?= go
BIN       := bin/sspr
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# Debian packages the tests need: sox cross-checks G.711; spandsp is the
# reference DTMF detector the comparison test and benchmark run against.
# The SIP peers (SIPp, Kamailio, baresip) come from .ci/peers-deps, the
# directory servers (OpenLDAP slapd, Samba AD) from .ci/directory-deps,
# PostgreSQL from .ci/store-deps, Chromium and axe-core (npm, pinned) for
# the portal's browser tests from .ci/browser-deps.
TEST_DEBS := sox libspandsp-dev pkg-config gcc
FUZZTIME  ?= 60s
DEMO_HTTP ?= 127.0.0.1:8080
# The fuzz targets, as package:Target.
FUZZ      := ./dtmf:FuzzDetector ./dtmf:FuzzReceiver ./dtmf:FuzzParseInfo ./dtmf:FuzzReadWAV \
             ./sip/media:FuzzSetAnswer ./sip/media:FuzzHandle ./sip/siptest:FuzzReadNetstring \
             ./sip:FuzzAgentRequest ./portal/phone:FuzzParse ./portal/i18n:FuzzMatch ./portal:FuzzAPIRequest ./portal:FuzzFormPost

.DEFAULT_GOAL := help
.PHONY: help build run test test-deps unit race compare fuzz-short fuzz bench bench-load lint prompts talkoff clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/sspr
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sspr

run: build ## run the demo: portal, demo users and a virtual phone on loopback (Ctrl-C stops it)
	$(BIN) demo --http $(DEMO_HTTP)

test: test-deps lint race compare fuzz-short ## install what the tests need, then run every test

test-deps: ## install the Debian packages and Go modules the tests need
	@.ci/install-deps $(TEST_DEBS)
	@.ci/peers-deps
	@.ci/directory-deps
	@.ci/store-deps
	@.ci/browser-deps
	$(GO) mod download

unit: ## the unit tests, quickly
	$(GO) test ./...

race: ## every test, with the race detector (screenshots of the browser tests under test-artifacts/)
	@mkdir -p $(CURDIR)/test-artifacts
	$(GO) test -race -count=1 -artifacts -outputdir $(CURDIR)/test-artifacts ./...

compare: test-deps ## our DTMF detector against spandsp on the same audio (accuracy table)
	$(GO) test -count=1 -tags spandsp ./dtmf/...
	$(GO) test -count=1 -tags spandsp -run CompareAccuracy -v ./dtmf/ | grep -E 'total|FAIL|ok' 

fuzz-short: ## every fuzz target for 10 s (part of make test)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10s

fuzz: ## every fuzz target for FUZZTIME (default 60s)
	@GO=$(GO) .ci/fuzz $(FUZZTIME) $(FUZZ)

bench: test-deps ## benchmarks: the DTMF core, and its speed against spandsp on the same audio
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./dtmf/ ./sip/media/g711/
	@echo "== Go detector (vector kernel) against spandsp"
	$(GO) test -tags spandsp -run '^$$' -bench DetectorCompare -benchtime 2s -count 3 ./dtmf/ | tee /tmp/sspr-compare.txt
	@awk -f .ci/ratio.awk /tmp/sspr-compare.txt
	@echo "== Go detector (portable kernel, -tags purego) against spandsp"
	$(GO) test -tags 'spandsp purego' -run '^$$' -bench DetectorCompare -benchtime 2s -count 3 ./dtmf/ | tee /tmp/sspr-compare-purego.txt
	@awk -f .ci/ratio.awk /tmp/sspr-compare-purego.txt
	@echo "== the media path, per packet"
	$(GO) test -run '^$$' -bench . -benchmem ./sip/media/
	@echo "== the store's session operations, one at a time (SQLite, PostgreSQL)"
	$(GO) test -run '^$$' -bench SessionOps -benchmem ./portal/store/
	@echo "== concurrent calls against SIPp (events only: SIPp's per-call media threads are the limit otherwise)"
	SSPR_LOAD_CALLS=500,1000,2000 $(GO) test -run '^$$' -bench ConcurrentCalls -benchtime 1x -timeout 30m ./sip/
	@echo "== concurrent calls against SIPp streaming audio both ways"
	SSPR_LOAD_AUDIO=1 SSPR_LOAD_CALLS=500,1000 $(GO) test -run '^$$' -bench ConcurrentCalls -benchtime 1x -timeout 30m ./sip/

bench-load: test-deps ## load: end-to-end resets, API calls and floods against the real binary (SSPR_LOAD_RESETS, SSPR_LOAD_RATE, SSPR_LOAD_NODES; about 20 minutes)
	$(GO) test -run '^$$' -bench 'Load' -benchtime 1x -timeout 90m ./cmd/sspr/
	$(GO) test -run '^$$' -bench 'Flood' -benchtime 1x -timeout 20m ./sip/

lint: ## gofmt, go vet (with and without build tags)
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags spandsp ./...
	$(GO) vet -tags purego ./...

prompts: ## regenerate the built-in IVR prompts (espeak-ng, sox)
	ivr/prompts/generate.sh

talkoff: ## regenerate the talk-off corpus (espeak-ng, sox)
	dtmf/testdata/talkoff/generate.sh

clean: ## remove build output
	rm -rf bin
