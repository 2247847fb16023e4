"""`/v1/models`, `/v1/models/{id}`, `/v1/providers` and `/v1/mappings` through real Envoy,
answered by the filter itself from its catalog (no Bedrock call). Responses are validated
against OpenAI's `ListModelsResponse` / `Model` by the `api` fixture's teardown."""

from __future__ import annotations

import openai
import pytest

import openai_schema
from e2e_support import DEMO_API_KEY, HAIKU, SONNET, Api, demo_plugin_config, validate_exchange

SONNET_BASE = "anthropic.claude-3-5-sonnet-20241022-v2:0"


def test_models_list_has_aliases_and_the_builtin_catalog(api, emulator):
    raw = api.client.models.with_raw_response.list()
    body = raw.http_response.json()
    openai_schema.validate(body, "ListModelsResponse")
    models = list(raw.parse())
    ids = [m.id for m in models]
    assert ids[:2] == ["gpt-4o", "gpt-4o-mini"]
    for expected in [SONNET_BASE, "amazon.nova-pro-v1:0", "meta.llama3-3-70b-instruct-v1:0",
                     "mistral.mistral-large-2407-v1:0", "cohere.command-r-plus-v1:0", "deepseek.r1-v1:0"]:
        assert expected in ids
    by_id = {m["id"]: m for m in body["data"]}
    alias = by_id["gpt-4o"]
    assert alias["object"] == "model" and alias["owned_by"] == "anthropic" and alias["provider"] == "anthropic"
    assert alias["bedrock"]["model_id"] == SONNET and alias["bedrock"]["alias"] is True
    assert alias["bedrock"]["context_window"] == 200000
    assert f"us.{SONNET_BASE}" in by_id[SONNET_BASE]["bedrock"]["inference_profiles"]
    assert by_id["amazon.nova-pro-v1:0"]["bedrock"]["input_modalities"] == ["text", "image", "video"]
    # Which models reason (answer reasoning_content / thinking_blocks when asked).
    assert alias["bedrock"]["reasoning"] is False
    assert by_id["deepseek.r1-v1:0"]["bedrock"]["reasoning"] is True
    assert by_id["amazon.nova-pro-v1:0"]["bedrock"]["reasoning"] is False
    # Which models take prompt-cache points, and where.
    assert alias["bedrock"]["prompt_caching"] is False
    assert by_id["anthropic.claude-sonnet-4-5-20250929-v1:0"]["bedrock"]["prompt_caching"] == {
        "system": True, "messages": True, "tools": True, "ttl_1h": True, "min_tokens": 1024,
        "max_cache_points": 4}
    assert by_id["amazon.nova-pro-v1:0"]["bedrock"]["prompt_caching"]["tools"] is False
    assert by_id["meta.llama3-3-70b-instruct-v1:0"]["bedrock"]["prompt_caching"] is False
    assert emulator.requests() == [], "the catalog needs no Bedrock call"


@pytest.mark.parametrize("model_id", ["gpt-4o", "anthropic.claude-sonnet-4-5-20250929-v1:0",
                                      "amazon.nova-pro-v1:0", "meta.llama3-3-70b-instruct-v1:0"])
def test_prompt_caching_says_what_a_chat_request_does(api, emulator, model_id):
    """`bedrock.prompt_caching` is what the translation does with `cache_control`: cache
    points where it says, none for `false`."""
    caching = api.client.models.retrieve(model_id).model_dump()["bedrock"]["prompt_caching"]
    long = "lorem " * 300
    tool = {"type": "function", "cache_control": {"type": "ephemeral"},
            "function": {"name": "lookup", "description": long, "parameters": {"type": "object", "properties": {}}}}
    api.client.chat.completions.create(
        model=model_id,
        messages=[{"role": "system", "content": [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}]},
                  {"role": "user", "content": "q"}],
        tools=[tool],
    )
    body = emulator.last()["body"]
    point = {"cachePoint": {"type": "default"}}
    assert (point in body["system"]) == bool(caching), body["system"]
    assert (point in body["toolConfig"]["tools"]) == bool(caching and caching["tools"]), body["toolConfig"]


@pytest.mark.parametrize("model_id", ["gpt-4o-mini", SONNET_BASE, SONNET, "amazon.nova-micro-v1:0"])
def test_models_retrieve(api, model_id):
    raw = api.client.models.with_raw_response.retrieve(model_id)
    body = openai_schema.validate(raw.http_response.json(), "Model")
    model = raw.parse()
    assert model.id == model_id == body["id"]
    assert model.object == "model"
    if model_id == "gpt-4o-mini":
        assert body["bedrock"]["model_id"] == HAIKU


@pytest.mark.parametrize("model_id", ["gpt-5-turbo", f"eu.{SONNET_BASE}", "anthropic.claude-9"])
def test_unknown_model_is_404_model_not_found(api, model_id):
    with pytest.raises(openai.NotFoundError) as err:
        api.client.models.retrieve(model_id)
    body = err.value.response.json()
    assert body["error"]["code"] == "model_not_found"
    assert body["error"]["type"] == "invalid_request_error"
    assert model_id in body["error"]["message"]


def test_metadata_endpoints_need_the_api_key(api):
    for path in ["/models", "/models/gpt-4o", "/providers", "/mappings"]:
        r = api.http.get(f"{api.gateway.base_url}{path}")
        assert r.status_code == 401, path
        r = api.http.get(f"{api.gateway.base_url}{path}", headers={"authorization": "Bearer sk-wrong-key-1"})
        assert r.status_code == 401, path
    r = api.http.post(f"{api.gateway.base_url}/models", headers={"authorization": f"Bearer {DEMO_API_KEY}"})
    assert r.status_code == 405


def get(api, path):
    r = api.http.get(f"{api.gateway.base_url}{path}", headers={"authorization": f"Bearer {DEMO_API_KEY}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return r.json()


def test_providers(api):
    body = get(api, "/providers")
    assert body["object"] == "list" and body["version"] == "2026-11-01"
    providers = {p["id"]: p for p in body["data"]}
    assert set(providers) >= {"anthropic", "amazon", "meta", "mistral", "cohere", "deepseek"}
    anthropic = providers["anthropic"]
    assert anthropic["object"] == "provider"
    assert SONNET_BASE in anthropic["models"]
    assert anthropic["aliases"] == ["gpt-4o", "gpt-4o-mini"]
    assert anthropic["capabilities"]["tools"] is True and anthropic["capabilities"]["streaming"] is True
    assert "image" in anthropic["capabilities"]["input_modalities"]


def test_mappings(api):
    body = get(api, "/mappings")
    assert body["object"] == "list" and body["version"] == "2026-11-01"
    assert body["upstream"] == "aws" and body["default"] == "passthrough"
    by_id = {m["id"]: m for m in body["data"]}
    gpt = by_id["gpt-4o"]
    assert gpt == {
        "id": "gpt-4o",
        "object": "mapping",
        "kind": "alias",
        "bedrock_model_id": SONNET,
        "region": "us-east-1",
        "path": "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
    }
    assert by_id[f"apac.{SONNET_BASE}"]["kind"] == "inference_profile"
    assert by_id[SONNET_BASE]["kind"] == "model"


def test_configured_catalog_replaces_the_builtin_one(start_gateway):
    config = demo_plugin_config()
    config.update(
        builtin_models=False,
        models=[
            {"id": "acme.writer-v1:0", "provider": "acme", "name": "Acme Writer", "context_window": 32000,
             "max_output_tokens": 4096, "tools": False, "inference_profiles": ["eu"], "region": "eu-west-1"},
            {"id": "amazon.nova-pro-v1:0"},
        ],
        model_aliases={"writer": "eu.acme.writer-v1:0"},
    )
    api = Api(start_gateway("catalog", plugin_config=config))
    try:
        models = {m.id: m for m in api.client.models.list()}
        assert list(models) == ["writer", "acme.writer-v1:0", "amazon.nova-pro-v1:0"]
        writer = api.client.models.retrieve("writer").model_dump()
        assert writer["owned_by"] == "acme"
        assert writer["bedrock"]["region"] == "eu-west-1"
        assert writer["bedrock"]["inference_profiles"] == ["eu.acme.writer-v1:0"]
        # Unset fields of a built-in id keep the built-in facts.
        nova = api.client.models.retrieve("amazon.nova-pro-v1:0").model_dump()
        assert nova["bedrock"]["context_window"] == 300000
        with pytest.raises(openai.NotFoundError):
            api.client.models.retrieve(SONNET_BASE)
    finally:
        api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)
