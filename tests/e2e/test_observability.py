"""Observability through real Envoy + the filter: X-Request-ID propagation, the filter's
metrics on Envoy's admin /stats/prometheus (with tenant, model and error type as labels),
and the access-log fields (tenant, model, tokens, stop reason) the filter sets as filter
state, read back from the access log file."""

from __future__ import annotations

import hashlib
import json
import re
import time

import httpx2
import openai
import pytest

from e2e_support import METRICS, SONNET, Api, demo_plugin_config, validate_exchange

KEY = "sk-observed-tenant-key"
# Metrics carry the canonical model id (the base id of the `us.` profile called).
MODEL_LABEL = re.sub(r"[^A-Za-z0-9_-]", "_", SONNET.removeprefix("us."))


def user(text):
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def observed(start_gateway):
    config = demo_plugin_config()
    config["tenants"]["obs"] = {"key_sha256": [hashlib.sha256(KEY.encode()).hexdigest()]}
    return start_gateway("observed", plugin_config=config)


@pytest.fixture
def oapi(observed, emulator):
    emulator.reset()
    api = Api(observed)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


def test_request_id_is_propagated(api, emulator):
    raw = api.client.chat.completions.with_raw_response.create(
        model=SONNET, messages=user("traced"), extra_headers={"X-Request-ID": "trace-me-123"}
    )
    assert raw.headers["x-request-id"] == "trace-me-123"
    assert emulator.last()["headers"]["x-request-id"] == "trace-me-123"


def test_request_id_is_generated_and_returned(api, emulator):
    for stream in (False, True):
        response = api.post("/chat/completions", {"model": SONNET, "messages": user("untraced"), "stream": stream})
        rid = response.headers["x-request-id"]
        assert rid, "no x-request-id on the response"
        assert emulator.last()["headers"]["x-request-id"] == rid
    local = api.post("/nope", {}, api_key="sk-wrong-key-0000")
    assert local.status_code == 401 and local.headers["x-request-id"]


def prometheus(gateway) -> str:
    return httpx2.get(f"{gateway.admin_url}/stats/prometheus", timeout=5).text


def sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for(fn, timeout=8.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_metrics_on_the_admin_endpoint(oapi, observed):
    client = oapi.openai(KEY)
    usage_in = usage_out = 0
    for text in ("count these words", "and these"):
        u = client.chat.completions.create(model=SONNET, messages=user(text)).usage
        usage_in, usage_out = usage_in + u.prompt_tokens, usage_out + u.completion_tokens
    chunks = list(
        client.chat.completions.create(
            model=SONNET, messages=user("stream me"), stream=True, stream_options={"include_usage": True}
        )
    )
    usage_in += chunks[-1].usage.prompt_tokens
    usage_out += chunks[-1].usage.completion_tokens
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=SONNET, messages=user("[scenario:throttle] x"))
    labels = {"bedrock_tenant": "obs", "bedrock_model": MODEL_LABEL}

    def ready():
        text = prometheus(observed)
        return text if sample(text, f"{METRICS}_time_to_first_token_ms_count", **labels) else None

    text = wait_for(ready)
    assert text, "no time_to_first_token histogram for tenant obs:\n" + prometheus(observed)[-3000:]
    assert sample(text, f"{METRICS}_requests", **labels) == 4
    assert sample(text, f"{METRICS}_input_tokens", **labels) == usage_in
    assert sample(text, f"{METRICS}_output_tokens", **labels) == usage_out
    assert sample(text, f"{METRICS}_errors", bedrock_error_type="rate_limit_error", **labels) == 1
    assert sample(text, f"{METRICS}_time_to_first_token_ms_count", **labels) >= 3
    assert sample(text, f"{METRICS}_time_to_first_token_ms_bucket", le="+Inf", **labels) >= 3
    # refused before the tenant is known: tenant and model are "-"
    oapi.post("/chat/completions", {"model": SONNET, "messages": user("x")}, api_key="sk-unknown-key-1")
    text = wait_for(lambda: (t := prometheus(observed)) and sample(
        t, f"{METRICS}_errors", bedrock_tenant="-", bedrock_error_type="authentication_error") and t)
    assert text


def access_log_lines(gateway) -> list[dict]:
    if not gateway.access_log.exists():
        return []
    return [json.loads(line) for line in gateway.access_log.read_text().splitlines() if line.strip()]


def logged(gateway, request_id: str) -> dict:
    def find():
        return next((l for l in access_log_lines(gateway) if l["request_id"] == request_id), None)

    line = wait_for(find)
    assert line, f"no access log line for {request_id}: {access_log_lines(gateway)[-5:]}"
    return line


def test_access_log_fields(oapi, observed):
    client = oapi.openai(KEY)
    raw = client.chat.completions.with_raw_response.create(
        model=SONNET, messages=user("log this please"), extra_headers={"X-Request-ID": "log-unary-1"}
    )
    u = raw.parse().usage
    line = logged(observed, "log-unary-1")
    assert line["tenant"] == "obs"
    assert line["model"] == SONNET
    assert (line["input_tokens"], line["output_tokens"]) == (str(u.prompt_tokens), str(u.completion_tokens))
    assert line["stop_reason"] == "end_turn"
    assert line["error_type"] == "-"
    assert line["status"] == 200

    list(client.chat.completions.create(
        model=SONNET, messages=user("log a stream"), stream=True, max_tokens=2,
        extra_headers={"X-Request-ID": "log-stream-1"},
    ))
    line = logged(observed, "log-stream-1")
    assert (line["tenant"], line["model"], line["stop_reason"]) == ("obs", SONNET, "max_tokens")
    assert line["output_tokens"] == "2"

    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(
            model=SONNET, messages=user("[scenario:error:AccessDeniedException] no"),
            extra_headers={"X-Request-ID": "log-error-1"},
        )
    line = logged(observed, "log-error-1")
    assert (line["error_type"], line["status"], line["tenant"]) == ("permission_error", 403, "obs")
