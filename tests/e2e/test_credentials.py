"""Credentials that expire, end to end: the filter fetches keys from the emulator's IMDSv2 or
container credentials endpoint through `dispatch_http_call` on a timer, the emulator issues
new short-lived keys on every fetch and accepts only keys that have not expired, and requests
keep succeeding across rotations. Also: no credentials yet → 503, never an unsigned call;
Bedrock API keys (bearer token) instead of SigV4."""

from __future__ import annotations

import re
import time

import httpx2
import openai
import pytest

from e2e_support import DEMO_API_KEY, Api, free_port, validate_exchange

NO_AWS_KEYS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
TTL = 8  # seconds: refreshed at half-life (4 s), unused in the last quarter (2 s)


def config(**extra):
    return {
        "api_keys": [DEMO_API_KEY],
        "region": "us-east-1",
        "model_aliases": {"gpt-4o": "us.anthropic.claude-3-5-sonnet-20241022-v2:0"},
        **extra,
    }


def access_key(request: dict) -> str | None:
    m = re.search(r"Credential=([^/]+)/", request["headers"].get("authorization", ""))
    return m.group(1) if m else None


def chat(api: Api, text: str = "rotate"):
    return api.client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])


def wait_for_credentials(api: Api, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return chat(api, "warm up")
        except openai.InternalServerError as err:  # 503 until the first fetch lands
            assert err.status_code == 503, err
            assert err.response.json()["error"]["code"] == "credentials_unavailable"
            if time.monotonic() > deadline:
                raise


def test_imds_credentials_rotate_and_requests_keep_working(start_emulator, start_gateway):
    emulator = start_emulator("imds", env={"EMULATOR_CREDENTIAL_TTL": str(TTL)})
    gw = start_gateway(
        "imds",
        plugin_config=config(credentials_source={"type": "imds", "cluster": "imds", "timeout_ms": 1000}),
        env=NO_AWS_KEYS,
        upstream=emulator,
        clusters={"imds": emulator},
    )
    api = Api(gw)
    try:
        wait_for_credentials(api)
        emulator.reset()
        started = time.monotonic()
        answered = 0
        while time.monotonic() - started < 2.5 * TTL:
            assert chat(api, f"request {answered}").choices[0].message.content == f"Echo: request {answered}"
            answered += 1
            time.sleep(0.25)
        used = {access_key(r) for r in emulator.bedrock_requests()}
        issued = httpx2.get(f"{emulator.url}/_emulator/credentials", timeout=5).json()
        assert all(r["status"] == 200 for r in emulator.bedrock_requests())
        assert len(used) >= 3, f"{answered} requests used only {used}"
        assert used <= {c["access_key_id"] for c in issued}
        assert any(not c["valid"] for c in issued), "keys expired while requests kept succeeding"
        # Every signed request carried the session token of its key.
        assert all(r["headers"].get("x-amz-security-token", "").startswith("emulated-session-")
                   for r in emulator.bedrock_requests())
        for exchange in api.exchanges:
            validate_exchange(exchange)
    finally:
        api.close()


def test_container_credentials(start_emulator, start_gateway):
    emulator = start_emulator("container", env={"AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-auth-token"})
    gw = start_gateway(
        "container",
        plugin_config=config(credentials_source={"type": "container", "cluster": "ecs"}),
        env={**NO_AWS_KEYS, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-1",
             "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-auth-token"},
        upstream=emulator,
        clusters={"ecs": emulator},
    )
    api = Api(gw)
    try:
        assert wait_for_credentials(api).choices[0].message.content == "Echo: warm up"
        assert access_key(emulator.last()).startswith("ASIAEMU")
    finally:
        api.close()


def test_no_credentials_yet_is_503_and_nothing_is_sent_unsigned(start_emulator, start_gateway):
    emulator = start_emulator("no-credentials")
    dead = free_port()  # nothing listens: every fetch fails

    class Nowhere:
        url = f"http://127.0.0.1:{dead}"

    gw = start_gateway(
        "no-credentials",
        plugin_config=config(credentials_source={"type": "imds", "cluster": "imds"}),
        env=NO_AWS_KEYS,
        upstream=emulator,
        clusters={"imds": Nowhere},
    )
    api = Api(gw)
    try:
        time.sleep(1.5)
        for stream in (False, True):
            with pytest.raises(openai.InternalServerError) as err:
                api.client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=stream)
            assert err.value.status_code == 503
            error = err.value.response.json()["error"]
            assert (error["type"], error["code"]) == ("service_unavailable_error", "credentials_unavailable")
        assert emulator.bedrock_requests() == []
        for exchange in api.exchanges:
            validate_exchange(exchange)
    finally:
        api.close()


def test_bedrock_api_key_instead_of_sigv4(start_emulator, start_gateway):
    key = "bedrock-api-key-for-the-e2e-suite"
    emulator = start_emulator("api-key", env={"AWS_BEARER_TOKEN_BEDROCK": key})
    gw = start_gateway("api-key", plugin_config=config(), env={**NO_AWS_KEYS, "AWS_BEARER_TOKEN_BEDROCK": key},
                       upstream=emulator)
    api = Api(gw)
    try:
        assert chat(api, "keyed").choices[0].message.content == "Echo: keyed"
        headers = emulator.last()["headers"]
        assert headers["authorization"] == f"Bearer {key}"
        assert "x-amz-date" not in headers
    finally:
        api.close()
    wrong = start_gateway("api-key-wrong", plugin_config=config(bedrock_api_key="not-the-key"), env=NO_AWS_KEYS,
                          upstream=emulator)
    api = Api(wrong)
    try:
        with pytest.raises(openai.PermissionDeniedError):
            chat(api)
    finally:
        api.close()
