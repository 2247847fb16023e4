"""Service tiers and Bedrock guardrails through real Envoy + the filter, with the openai SDK:
the request's `service_tier` and the tenant's default and ceiling reach Bedrock as
`serviceTier` (or `performanceConfig.latency` on latency-optimized models) and the tier served
comes back in `service_tier`; guardrails configured per tenant and per model, or chosen per
request where the tenant allows it, reach Bedrock as `guardrailConfig`; an intervention is
`finish_reason: "content_filter"` with `bedrock_guardrail` and `x-bedrock-guardrail-action`;
`guard` text parts become `guardContent` blocks. What Bedrock received is read back from the
emulator, which checks every body against botocore's model (enums and patterns included)."""

from __future__ import annotations

import hashlib
import json

import openai
import pytest

from e2e_support import HAIKU, SONNET, Api, demo_plugin_config, validate_exchange

KEYS = {
    "tiered": "sk-tiered-tenant-key-01",
    "guarded": "sk-guarded-tenant-key-01",
    "free": "sk-free-tenant-key-0001",
}
TENANT_GUARDRAIL = {"guardrailIdentifier": "tenantguard", "guardrailVersion": "3", "trace": "enabled"}
HAIKU_GUARDRAIL = {"guardrailIdentifier": "haikuguard", "guardrailVersion": "DRAFT"}
BLOCKED = "Sorry, the model cannot answer this question."


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def tg(start_gateway):
    config = demo_plugin_config()
    config.pop("api_keys", None)
    config["tenants"] = {
        "tiered": {"key_sha256": [sha(KEYS["tiered"])], "service_tier": {"default": "flex", "max": "default"}},
        "guarded": {
            "key_sha256": [sha(KEYS["guarded"])],
            "guardrail": {"identifier": "tenantguard", "version": "3", "trace": "enabled",
                          "stream_processing_mode": "async"},
            "model_guardrails": {HAIKU: {"identifier": "haikuguard", "version": "DRAFT"}},
        },
        "free": {"key_sha256": [sha(KEYS["free"])], "allow_request_guardrail": True},
    }
    return start_gateway("tiers-guardrails", plugin_config=config)


@pytest.fixture
def tapi(tg, emulator):
    emulator.reset()
    api = Api(tg)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


def user(text):
    return [{"role": "user", "content": text}]


def create(api, tenant, **kwargs):
    """`chat.completions.create` as `tenant`, with the raw response (headers) kept."""
    client = api.openai(KEYS[tenant])
    kwargs.setdefault("model", SONNET)
    kwargs.setdefault("messages", user("hi"))
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    return raw, raw.parse()


def stream_chunks(api, tenant, **kwargs):
    client = api.openai(KEYS[tenant])
    kwargs.setdefault("model", SONNET)
    kwargs.setdefault("messages", user("hi"))
    return list(client.chat.completions.create(stream=True, **kwargs))


# --- service tiers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "asked, sent, served",
    [("priority", "priority", "priority"), ("flex", "flex", "flex"), ("default", "default", "default"),
     ("fast", "priority", "priority"), ("scale", "reserved", "scale")],
)
def test_the_requested_tier_reaches_bedrock_and_comes_back(tapi, emulator, asked, sent, served):
    raw, completion = create(tapi, "free", service_tier=asked)
    assert emulator.last()["body"]["serviceTier"] == {"type": sent}
    assert completion.service_tier == served
    assert "x-bedrock-ignored-params" not in raw.headers


def test_auto_leaves_the_tier_to_bedrock_and_says_what_it_used(tapi, emulator):
    _, completion = create(tapi, "free", service_tier="auto")
    assert "serviceTier" not in emulator.last()["body"]
    assert completion.service_tier == "default"  # what the emulator (as Bedrock) served


def test_priority_is_latency_optimized_inference_on_models_that_offer_it(tapi, emulator):
    _, completion = create(tapi, "free", model=HAIKU, service_tier="priority")
    body = emulator.last()["body"]
    assert body["performanceConfig"] == {"latency": "optimized"} and "serviceTier" not in body
    assert completion.service_tier == "priority"


def test_the_tenant_default_and_ceiling(tapi, emulator):
    raw, completion = create(tapi, "tiered")
    assert emulator.last()["body"]["serviceTier"] == {"type": "flex"}
    assert completion.service_tier == "flex"
    assert "x-bedrock-ignored-params" not in raw.headers
    raw, completion = create(tapi, "tiered", service_tier="priority")
    assert emulator.last()["body"]["serviceTier"] == {"type": "default"}
    assert completion.service_tier == "default"
    assert raw.headers["x-bedrock-ignored-params"] == "service_tier"


def test_the_served_tier_is_in_the_last_stream_chunks(tapi, emulator):
    chunks = stream_chunks(tapi, "tiered", stream_options={"include_usage": True})
    assert emulator.last()["body"]["serviceTier"] == {"type": "flex"}
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish[0].service_tier == "flex" and chunks[-1].service_tier == "flex"
    assert chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens == chunks[-1].usage.total_tokens


def test_an_unknown_tier_is_a_400_naming_it(tapi, emulator):
    r = tapi.post("/chat/completions", {"model": SONNET, "messages": user("hi"), "service_tier": "turbo"},
                  api_key=KEYS["free"])
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "service_tier"
    assert emulator.bedrock_requests() == []


# --- guardrails ------------------------------------------------------------------------------


def test_the_tenant_and_model_guardrails_reach_bedrock(tapi, emulator):
    raw, completion = create(tapi, "guarded")
    assert emulator.last()["body"]["guardrailConfig"] == TENANT_GUARDRAIL
    # Traced, nothing acted: said so, and the answer is the model's.
    assert raw.headers["x-bedrock-guardrail-action"] == "NONE"
    assert completion.model_extra["bedrock_guardrail"] == {"action": "NONE", "action_reason": "No action."}
    assert completion.choices[0].finish_reason == "stop"
    stream_chunks(tapi, "guarded")
    assert emulator.last()["body"]["guardrailConfig"] == dict(TENANT_GUARDRAIL, streamProcessingMode="async")
    create(tapi, "guarded", model=HAIKU)
    assert emulator.last()["body"]["guardrailConfig"] == HAIKU_GUARDRAIL
    tapi.openai(KEYS["guarded"]).completions.create(model=SONNET, prompt="legacy too")
    assert emulator.last()["body"]["guardrailConfig"] == TENANT_GUARDRAIL


def test_an_intervention_is_a_content_filter_finish(tapi, emulator):
    raw, completion = create(tapi, "guarded", messages=user("[scenario:guardrail] forbidden topic"))
    assert completion.choices[0].finish_reason == "content_filter"
    assert completion.choices[0].message.content == BLOCKED
    assert raw.headers["x-bedrock-guardrail-action"] == "INTERVENED"
    assert completion.model_extra["bedrock_guardrail"] == {
        "action": "INTERVENED", "stop_reason": "guardrail_intervened", "action_reason": "Guardrail blocked.",
        "assessments": [{"source": "input", "policy": "topicPolicy", "name": "Emulated topic", "action": "BLOCKED"}],
    }
    u = completion.usage
    assert u.prompt_tokens + u.completion_tokens == u.total_tokens


def test_an_intervention_in_a_stream(tapi, emulator):
    chunks = stream_chunks(tapi, "guarded", messages=user("[scenario:guardrail] forbidden topic"))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == BLOCKED
    last = chunks[-1]
    assert last.choices[0].finish_reason == "content_filter"
    assert last.model_extra["bedrock_guardrail"]["action"] == "INTERVENED"
    assert last.model_extra["bedrock_guardrail"]["stop_reason"] == "guardrail_intervened"


def test_a_request_guardrail_where_the_tenant_allows_it(tapi, emulator):
    mine = {"guardrailIdentifier": "arn:aws:bedrock:us-east-1:123456789012:guardrail/mine1",
            "guardrailVersion": "2", "trace": "enabled_full"}
    _, completion = create(tapi, "free", extra_body={"guardrailConfig": mine})
    assert emulator.last()["body"]["guardrailConfig"] == mine
    assert completion.model_extra["bedrock_guardrail"]["action"] == "NONE"


def test_a_request_guardrail_is_refused_where_the_tenant_does_not_allow_it(tapi, emulator):
    for tenant in ("tiered", "guarded"):
        with pytest.raises(openai.PermissionDeniedError) as e:
            create(tapi, tenant, extra_body={"guardrailConfig": TENANT_GUARDRAIL})
        assert e.value.body["param"] == "guardrailConfig"
        assert e.value.body["code"] == "guardrail_not_allowed"
    assert emulator.bedrock_requests() == []


def test_a_bad_request_guardrail_is_a_400_naming_the_member(tapi, emulator):
    with pytest.raises(openai.BadRequestError) as e:
        create(tapi, "free", extra_body={"guardrailConfig": {"guardrailIdentifier": "x y", "guardrailVersion": "1"}})
    assert e.value.body["param"] == "guardrailConfig.guardrailIdentifier"
    assert emulator.bedrock_requests() == []


def guarded_messages(marked_inside: bool):
    outside, inside = ("", "[scenario:guardrail] ") if marked_inside else ("[scenario:guardrail] ", "")
    return [{"role": "user", "content": [
        {"type": "text", "text": f"{outside}context"},
        {"type": "text", "text": f"{inside}check this", "guard": True},
    ]}]


def test_guarded_parts_are_what_the_guardrail_assesses(tapi, emulator):
    config = {"guardrailIdentifier": "partsguard", "guardrailVersion": "1"}
    _, completion = create(tapi, "free", messages=guarded_messages(False), extra_body={"guardrailConfig": config})
    content = emulator.last()["body"]["messages"][0]["content"]
    assert content[1] == {"guardContent": {"text": {"text": "check this", "qualifiers": ["guard_content"]}}}
    # The marker sits outside the guarded part: not assessed, no intervention.
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == "Echo: context check this"
    _, completion = create(tapi, "free", messages=guarded_messages(True), extra_body={"guardrailConfig": config})
    assert completion.choices[0].finish_reason == "content_filter"


def test_a_guarded_system_part_is_assessed(tapi, emulator):
    config = {"guardrailIdentifier": "partsguard", "guardrailVersion": "1"}
    for role in ("system", "developer"):
        messages = [{"role": role, "content": [{"type": "text", "text": "[scenario:guardrail] rules", "guard": True}]},
                    {"role": "user", "content": "hello"}]
        _, completion = create(tapi, "free", messages=messages, extra_body={"guardrailConfig": config})
        assert emulator.last()["body"]["system"] == [
            {"guardContent": {"text": {"text": "[scenario:guardrail] rules", "qualifiers": ["guard_content"]}}}
        ]
        assert completion.choices[0].finish_reason == "content_filter"
    # Without `guard` the system text is not assessed.
    messages = [{"role": "system", "content": "[scenario:guardrail] rules"}, {"role": "user", "content": "hello"}]
    _, completion = create(tapi, "free", messages=messages, extra_body={"guardrailConfig": config})
    assert completion.choices[0].finish_reason == "stop"


def test_guarded_parts_without_a_guardrail_are_plain_text_and_reported(tapi, emulator):
    raw, completion = create(tapi, "tiered", messages=guarded_messages(True))
    content = emulator.last()["body"]["messages"][0]["content"]
    assert content == [{"text": "context"}, {"text": "[scenario:guardrail] check this"}]
    assert raw.headers["x-bedrock-ignored-params"] == "guard"
    assert completion.choices[0].finish_reason == "stop"
    assert json.loads(raw.text).get("bedrock_guardrail") is None
