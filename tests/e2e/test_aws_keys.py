"""API keys kept in AWS: the tenant key table read from Secrets Manager / SSM Parameter Store
(played by the emulator) at start and on a refresh timer — 401 until loaded, rotation,
last good table kept when a refresh fails."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import httpx2
import openai
import pytest

from e2e_support import CLIENT_TIMEOUT, NATIVE_MODULE, demo_plugin_config

KEY_ONE = "sk-aws-kept-key-one"
KEY_TWO = "sk-aws-kept-key-two"


def table(**tenants: list[str]) -> str:
    return json.dumps(
        {"tenants": {t: {"key_sha256": [hashlib.sha256(k.encode()).hexdigest() for k in keys]} for t, keys in tenants.items()}}
    )


def status(gateway, key: str) -> tuple[int, dict]:
    # A fresh connection each time, so both Envoy workers (each with its own table) are asked.
    r = httpx2.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}", "connection": "close"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        timeout=CLIENT_TIMEOUT,
    )
    return r.status_code, r.json()


def settle(gateway, expect: dict[str, int], timeout: float = 15.0) -> None:
    """Waits until every key gets its expected status, several times in a row."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = {k: [status(gateway, k)[0] for _ in range(4)] for k in expect}
        if all(all(s == want for s in last[k]) for k, want in expect.items()):
            return
        time.sleep(0.3)
    pytest.fail(f"keys did not settle to {expect}: last {last}\n{gateway.log.read_text()[-3000:]}")


def control(emulator, method: str, path: str, content: bytes | str) -> None:
    httpx2.request(method, f"{emulator.url}/_emulator/aws/{path}", content=content, timeout=5).raise_for_status()


def gateway_with(start_gateway, name: str, source: dict):
    config = {k: v for k, v in demo_plugin_config().items() if k not in ("api_keys", "tenants")}
    # Policy (models, limits) stays in the configuration; the keys come from AWS.
    config["tenants"] = {"acme": {}, "beta": {"limits": {"requests_per_minute": 6000}}}
    config["api_keys_source"] = {"refresh_seconds": 2, "retry_seconds": 1, **source}
    return start_gateway(name, plugin_config=config)


def test_secrets_manager_load_rotation_and_failed_refresh(start_gateway, emulator):
    secret_id = f"bedrock-openai/keys-{uuid.uuid4().hex[:8]}"
    gateway = gateway_with(start_gateway, "aws-keys-sm", {"service": "secretsmanager", "id": secret_id})

    # No secret yet: every key is refused, saying why.
    code, body = status(gateway, KEY_ONE)
    assert code == 401 and "not been loaded" in body["error"]["message"], body
    settle(gateway, {KEY_ONE: 401})
    assert "API key table could not be loaded" in gateway.log.read_text()

    # Load.
    control(emulator, "PUT", f"secrets/{secret_id}", table(acme=[KEY_ONE]))
    settle(gateway, {KEY_ONE: 200, KEY_TWO: 401})
    code, body = status(gateway, KEY_TWO)
    assert body["error"]["message"] == "Incorrect API key provided."
    client = openai.OpenAI(api_key=KEY_ONE, base_url=f"{gateway.url}/v1", max_retries=0, timeout=CLIENT_TIMEOUT)
    assert client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "kept in AWS"}]
    ).choices[0].message.content == "Echo: kept in AWS"

    # Rotation: the next refresh replaces the table whole.
    control(emulator, "PUT", f"secrets/{secret_id}", table(acme=[KEY_TWO]))
    settle(gateway, {KEY_ONE: 401, KEY_TWO: 200})

    # Refresh failures keep the last good table, and say so in the log.
    control(emulator, "POST", "fail", json.dumps({"status": 500}))
    try:
        time.sleep(3.5)
        settle(gateway, {KEY_ONE: 401, KEY_TWO: 200})
        assert "refresh failed, still serving the last good table" in gateway.log.read_text()
        # A broken secret is a failed refresh too.
    finally:
        control(emulator, "POST", "fail", json.dumps({"status": None}))
    control(emulator, "PUT", f"secrets/{secret_id}", "{not json")
    time.sleep(3.5)
    settle(gateway, {KEY_TWO: 200})
    assert "the key table is not valid" in gateway.log.read_text()

    # A table naming a tenant the configuration does not have is refused as a whole.
    control(emulator, "PUT", f"secrets/{secret_id}", table(ghost=[KEY_ONE]))
    time.sleep(3.5)
    settle(gateway, {KEY_ONE: 401, KEY_TWO: 200})
    # The tenant is not named: a name the configuration does not know may be anything.
    assert "is not in the plugin configuration's `tenants`" in gateway.log.read_text()


def test_ssm_parameter(start_gateway, emulator):
    name = f"/bedrock-openai/keys-{uuid.uuid4().hex[:8]}"
    control(emulator, "PUT", f"parameters/{name}", table(beta=[KEY_ONE]))
    gateway = gateway_with(start_gateway, "aws-keys-ssm", {"service": "ssm", "id": name})
    settle(gateway, {KEY_ONE: 200, KEY_TWO: 401})
    calls = httpx2.get(f"{emulator.url}/_emulator/aws/calls", timeout=5).json()
    # The Wasm build reads once per Envoy worker (a VM each); the native build once per
    # configuration, for every worker.
    assert calls.get("GetParameter", 0) >= (1 if NATIVE_MODULE else 2)
