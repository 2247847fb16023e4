"""Custom gateway mode (seed bedrock-proxy-custom-gateway.md): a second Envoy whose plugin
configuration has a `gateway`, in front of an emulator that serves the gateway's paths
(`/v1.0/model/bedrock/model/{alias}/converse(-stream)`) and checks its `authorization-token`."""

from __future__ import annotations


import openai
import pytest

from e2e_support import DEMO_API_KEY, Api, validate_exchange

TOKEN = "gw-token-for-the-e2e-suite"


@pytest.fixture(scope="module")
def gw_emulator(start_emulator):
    return start_emulator("gateway", env={"BEDROCK_GATEWAY_TOKEN": TOKEN})


def gateway_config(**gateway):
    return {
        "api_keys": [DEMO_API_KEY],
        "model_aliases": {
            "gpt-4o": "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "gpt-4o-mini": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        },
        "gateway": {"host": "air-api.example.com", **gateway},
    }


@pytest.fixture(scope="module")
def gw(start_gateway, gw_emulator):
    # The token comes from the Envoy environment (host_env_keys) and no AWS credentials exist.
    return start_gateway(
        "gateway-mode",
        plugin_config=gateway_config(aliases={"us.anthropic.claude-3-5-haiku-20241022-v1:0": "claude-haiku-fast"}),
        env={"BEDROCK_GATEWAY_TOKEN": TOKEN, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_REGION": None},
        upstream=gw_emulator,
    )


@pytest.fixture
def gapi(gw, gw_emulator):
    gw_emulator.reset()
    api = Api(gw)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


def last_gateway_request(emulator):
    received = [r for r in emulator.requests() if r["path"].startswith("/v1.0/")]
    assert received, "the gateway emulator received nothing"
    return received[-1]


def test_chat_through_the_gateway(gapi, gw_emulator):
    completion = gapi.client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "system", "content": "You are a coding expert"},
                                  {"role": "user", "content": "Write me hello world"}],
        max_tokens=1000, temperature=0.5,
    )
    assert completion.choices[0].message.content == "Echo: Write me hello world"
    received = last_gateway_request(gw_emulator)
    assert received["path"] == "/v1.0/model/bedrock/model/claude-35-sonnet/converse"
    headers = received["headers"]
    assert headers["authorization-token"] == TOKEN
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/json"
    assert headers["host"] == "air-api.example.com"
    assert "authorization" not in headers and "x-amz-date" not in headers
    # The seed's payload shape.
    assert received["body"] == {
        "system": [{"text": "You are a coding expert"}],
        "messages": [{"role": "user", "content": [{"text": "Write me hello world"}]}],
        "inferenceConfig": {"maxTokens": 1000, "temperature": 0.5},
    }


def test_stream_and_explicit_alias(gapi, gw_emulator):
    chunks = list(gapi.client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream me"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: stream me"
    assert last_gateway_request(gw_emulator)["path"] == "/v1.0/model/bedrock/model/claude-haiku-fast/converse-stream"


def test_bedrock_ids_follow_the_alias_rule(gapi, gw_emulator):
    gapi.client.completions.create(model="anthropic.claude-3-7-sonnet-20250219-v1:0", prompt="legacy", max_tokens=5)
    assert last_gateway_request(gw_emulator)["path"] == "/v1.0/model/bedrock/model/claude-37-sonnet/converse"


def test_gateway_errors_are_openai_errors(gapi):
    with pytest.raises(openai.RateLimitError):
        gapi.client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "[scenario:throttle]"}])


def test_mappings_and_models_show_gateway_aliases(gapi):
    headers = {"authorization": f"Bearer {DEMO_API_KEY}"}
    mappings = gapi.http.get(f"{gapi.gateway.base_url}/mappings", headers=headers).json()
    assert mappings["upstream"] == "gateway"
    by_id = {m["id"]: m for m in mappings["data"]}
    assert by_id["gpt-4o"]["gateway_alias"] == "claude-35-sonnet"
    assert by_id["gpt-4o"]["path"] == "/v1.0/model/bedrock/model/claude-35-sonnet/converse"
    assert by_id["gpt-4o-mini"]["gateway_alias"] == "claude-haiku-fast"
    assert "region" not in by_id["gpt-4o"]
    model = gapi.client.models.retrieve("gpt-4o").model_dump()
    assert model["bedrock"]["gateway_alias"] == "claude-35-sonnet"


def test_wrong_gateway_token_is_a_permission_error(start_gateway, gw_emulator):
    gw = start_gateway("gateway-wrong-token", plugin_config=gateway_config(token="not-the-token"), upstream=gw_emulator)
    api = Api(gw)
    try:
        with pytest.raises(openai.PermissionDeniedError) as err:
            api.client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        body = err.value.response.json()
        assert body["error"]["type"] == "permission_error"
        assert "authorization-token" in body["error"]["message"]
        for exchange in api.exchanges:
            validate_exchange(exchange)
    finally:
        api.close()
