#!/usr/bin/env bash
# `make run-fleet`: the fleet-mode demo (docs/fleet.md) on one machine:
#   moto's DynamoDB server on 127.0.0.1:8788 (the fleet's store; table bedrock-openai-fleet),
#   the Bedrock emulator on 127.0.0.1:8787,
#   three Envoy replicas of envoy/envoy-fleet.yaml with the filter, r1/r2/r3, listening on
#   127.0.0.1:10000, 10001 and 10002 (admin on 9901, 9902, 9903).
# Rate limits and /v1/usage hold across the three. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STORE_PORT=8788
TABLE=bedrock-openai-fleet
mkdir -p .run/fleet
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

wait_for() { # url pid log
  for _ in $(seq 150); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    if ! kill -0 "$2" 2>/dev/null; then echo "exited while starting:" >&2; cat "$3" >&2; exit 1; fi
    sleep 0.1
  done
  echo "not ready: $1" >&2; cat "$3" >&2; exit 1
}

# The emulator, the store and Envoy share these demo credentials (moto accepts any).
export AWS_ACCESS_KEY_ID=AKIDEMOBEDROCKLOCAL0
export AWS_SECRET_ACCESS_KEY=demo-secret-key-for-the-local-bedrock-emulator
export AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN

$VENV/bin/python tests/emulator/bedrock_emulator --port 8787 > .run/fleet/emulator.log 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:8787/_emulator/health "${pids[-1]}" .run/fleet/emulator.log

$VENV/bin/moto_server -H 127.0.0.1 -p $STORE_PORT > .run/fleet/moto.log 2>&1 &
pids+=($!)
# Once moto answers, the table as an operator creates it (docs/fleet.md): pk/sk strings.
$VENV/bin/python - "$STORE_PORT" "$TABLE" <<'PY'
import sys, time
import botocore.session
port, table = sys.argv[1], sys.argv[2]
ddb = botocore.session.get_session().create_client("dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
for _ in range(150):
    try:
        ddb.list_tables()
        break
    except Exception:
        time.sleep(0.1)
ddb.create_table(
    TableName=table,
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
)
PY

for i in 1 2 3; do
  port=$((9999 + i)) admin=$((9900 + i))
  sed -e "s/port_value: 10000/port_value: $port/" -e "s/port_value: 9901/port_value: $admin/" \
    envoy/envoy-fleet.yaml > .run/fleet/envoy-r$i.yaml
  # HOSTNAME names the replica in the writer ids (fleet.replica overrides it).
  HOSTNAME=r$i $VENV/bin/envoy -c .run/fleet/envoy-r$i.yaml --concurrency 1 --disable-hot-restart \
    --log-level warn --component-log-level wasm:info > .run/fleet/envoy-r$i.log 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  wait_for http://127.0.0.1:$((9900 + i))/ready "${pids[$((i + 1))]}" .run/fleet/envoy-r$i.log
done

cat <<MSG

Fleet demo: three Envoy replicas + bedrock-openai filter sharing limits and usage through
DynamoDB (moto on 127.0.0.1:$STORE_PORT, table $TABLE) and the Bedrock emulator.
  r1 http://127.0.0.1:10000   r2 http://127.0.0.1:10001   r3 http://127.0.0.1:10002
Demo API key: sk-local-demo (admin). Tenant team-a, sk-fleet-limited-demo: 10 requests a
minute across all three replicas:

  for i in \$(seq 15); do curl -s -o /dev/null -w "%{http_code} " \\
    http://127.0.0.1:\$((10000 + i % 3))/v1/chat/completions \\
    -H 'Authorization: Bearer sk-fleet-limited-demo' -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}'; sleep 0.5; done; echo
  curl -s http://127.0.0.1:10001/v1/usage -H 'Authorization: Bearer sk-local-demo'

Logs: .run/fleet/. Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
