#!/usr/bin/env bash
# `make run`: start Envoy with the filter on 127.0.0.1:10000.
#   BEDROCK=emulator (default): against the bundled Bedrock emulator on 127.0.0.1:8787,
#                               signing with demo credentials the emulator checks.
#   BEDROCK=aws:                against real Bedrock; needs AWS_ACCESS_KEY_ID and
#                               AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN, AWS_REGION optional).
#   FILTER=module:              the filter built as an Envoy dynamic module (`make dynamic-module`)
#                               instead of Wasm, with the same configuration.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
mkdir -p .run
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

mode=${BEDROCK:-}
if [[ -z "$mode" ]]; then
  if [[ -n "${AWS_ACCESS_KEY_ID:-}" && -n "${AWS_SECRET_ACCESS_KEY:-}" ]]; then mode=aws; else mode=emulator; fi
fi

case "$mode" in
  emulator)
    # The emulator and Envoy share these demo credentials; the emulator verifies every signature.
    export AWS_ACCESS_KEY_ID=AKIDEMOBEDROCKLOCAL0
    export AWS_SECRET_ACCESS_KEY=demo-secret-key-for-the-local-bedrock-emulator
    export AWS_REGION=us-east-1
    unset AWS_SESSION_TOKEN
    $VENV/bin/python tests/emulator/bedrock_emulator --port 8787 > .run/emulator.log 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
      curl -fsS http://127.0.0.1:8787/_emulator/health >/dev/null 2>&1 && break
      sleep 0.1
    done
    config=envoy/envoy.yaml
    ;;
  aws)
    : "${AWS_ACCESS_KEY_ID:?BEDROCK=aws needs AWS_ACCESS_KEY_ID}"
    : "${AWS_SECRET_ACCESS_KEY:?BEDROCK=aws needs AWS_SECRET_ACCESS_KEY}"
    export AWS_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
    sed "s/us-east-1/${AWS_REGION}/g" envoy/envoy-aws.yaml > .run/envoy-aws.yaml
    config=.run/envoy-aws.yaml
    ;;
  *) echo "BEDROCK must be emulator or aws, not '$mode'" >&2; exit 2 ;;
esac

filter=${FILTER:-wasm}
case "$filter" in
  wasm) ;;
  module)
    $VENV/bin/python scripts/dynamic_module_config.py "$config" .run/envoy-module.yaml
    config=.run/envoy-module.yaml
    export ENVOY_DYNAMIC_MODULES_SEARCH_PATH=$PWD/target/dynamic-module
    ;;
  *) echo "FILTER must be wasm or module, not '$filter'" >&2; exit 2 ;;
esac

$VENV/bin/envoy -c "$config" --log-level warn --component-log-level wasm:info,dynamic_modules:info > .run/envoy.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS http://127.0.0.1:9901/ready >/dev/null 2>&1 && break
  if ! kill -0 "${pids[-1]}" 2>/dev/null; then echo "Envoy exited:" >&2; cat .run/envoy.log >&2; exit 1; fi
  sleep 0.1
done

cat <<MSG

Envoy + bedrock-openai filter ($filter) on http://127.0.0.1:10000 (mode: $mode; admin on 127.0.0.1:9901)
Demo API key: sk-local-demo

  curl -s http://127.0.0.1:10000/v1/chat/completions \\
    -H 'Authorization: Bearer sk-local-demo' -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello Bedrock"}]}'

Logs: .run/envoy.log, .run/emulator.log. Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
