"""The Responses API (`/v1/responses`) end to end: the official `openai` SDK's
`responses.create`, `responses.stream` and `responses.parse`, a function-tool loop, the
stateless refusals, and tenants, limits, usage and metrics as for chat, through real Envoy and
the Bedrock emulator. Every answer and every stream event is validated against OpenAI's
`Response` / `ResponseStreamEvent` schema (or, without the document, the SDK's models,
strictly) by the `api` fixture."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx2
import openai
import pytest

from e2e_support import HAIKU, METRICS, SONNET, Api, demo_plugin_config, validate_exchange

SONNET_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.mark.parametrize("stream", [False, True])
def test_create_text(api, emulator, stream):
    kwargs = dict(model="gpt-4o", input="Say hello to me", instructions="Be brief", max_output_tokens=50)
    if stream:
        events = list(api.client.responses.create(stream=True, **kwargs))
        types = [e.type for e in events]
        assert types[:2] == ["response.created", "response.in_progress"]
        assert types[-1] == "response.completed"
        assert [e.sequence_number for e in events] == list(range(len(events)))
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        r = events[-1].response
        assert deltas == r.output_text
    else:
        r = api.client.responses.create(**kwargs)
    assert r.status == "completed" and r.object == "response"
    assert r.output_text == "Echo: Say hello to me"
    assert r.id.startswith("resp_")
    assert r.instructions == "Be brief" and r.max_output_tokens == 50
    assert r.usage.input_tokens + r.usage.output_tokens == r.usage.total_tokens
    sent = emulator.last()["body"]
    assert sent["system"] == [{"text": "Be brief"}]
    assert sent["inferenceConfig"]["maxTokens"] == 50


def test_stream_helper_and_headers(api):
    with api.client.responses.stream(model="gpt-4o", input="stream me please") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text == "Echo: stream me please"
    exchange = api.last()
    assert exchange.content_type == "text/event-stream"


def test_unary_headers_usage_and_store(api):
    raw = api.client.responses.with_raw_response.create(model="gpt-4o", input="count these four words", store=True)
    r = raw.parse()
    h = raw.http_response.headers
    assert h["x-bedrock-model"] and h["x-request-id"]
    assert h["x-token-usage-input"] == str(r.usage.input_tokens) == "4"
    assert h["x-token-usage-output"] == str(r.usage.output_tokens)
    assert r.store is False
    assert "store" in h["x-bedrock-ignored-params"]


def test_parse_with_pydantic(api, emulator):
    pydantic = pytest.importorskip("pydantic")

    class City(pydantic.BaseModel):
        name: str
        population: int

    r = api.client.responses.parse(model=SONNET_45, input="A city", text_format=City)
    assert isinstance(r.output_parsed, City)
    assert r.output_parsed.name == "name"
    assert "outputConfig" in emulator.last()["body"]


@pytest.mark.parametrize("stream", [False, True])
def test_function_tool_loop(api, emulator, stream):
    conversation: list = [{"role": "user", "content": "Weather in Paris? [scenario:tool]"}]
    first = api.client.responses.create(model="gpt-4o", input=conversation, tools=[WEATHER])
    calls = [i for i in first.output if i.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "city"}
    conversation += [i.model_dump(exclude_none=True) for i in first.output]
    conversation.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"temp_c": 21}'})
    if stream:
        events = list(api.client.responses.create(model="gpt-4o", input=conversation, tools=[WEATHER], stream=True))
        second = events[-1].response
    else:
        second = api.client.responses.create(model="gpt-4o", input=conversation, tools=[WEATHER])
    assert second.output_text == f'Tool results: {calls[0].call_id}={{"temp_c":21}}'
    sent = emulator.last()["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"][-1]["toolUse"]["toolUseId"] == calls[0].call_id


def test_streamed_function_call_events(api):
    events = list(
        api.client.responses.create(
            model="gpt-4o", input="Weather? [scenario:tool]", tools=[WEATHER], tool_choice="required", stream=True
        )
    )
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"city": "city"}
    assert events[-1].response.output[-1].type == "function_call"


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_summary(api, stream):
    kwargs = dict(model=SONNET_45, input="Think about it", reasoning={"effort": "medium", "summary": "auto"})
    if stream:
        events = list(api.client.responses.create(stream=True, **kwargs))
        assert any(e.type == "response.reasoning_summary_text.delta" for e in events)
        r = events[-1].response
    else:
        r = api.client.responses.create(**kwargs)
    assert r.output[0].type == "reasoning"
    assert r.output[0].summary[0].text == "Reasoning about: Think about it"
    assert r.output_text == "Echo: Think about it"


@pytest.mark.parametrize("stream", [False, True])
def test_max_output_tokens_is_incomplete(api, stream):
    kwargs = dict(model="gpt-4o", input="one two three four five six", max_output_tokens=2)
    if stream:
        events = list(api.client.responses.create(stream=True, **kwargs))
        assert events[-1].type == "response.incomplete"
        r = events[-1].response
    else:
        r = api.client.responses.create(**kwargs)
    assert r.status == "incomplete"
    assert r.incomplete_details.reason == "max_output_tokens"


def test_images_and_files_are_read(api, emulator):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
    r = api.client.responses.create(
        model=SONNET,
        input=[{"role": "user", "content": [
            {"type": "input_text", "text": "what is this"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{png}", "detail": "auto"},
            {"type": "input_file", "filename": "notes.txt", "file_data": "data:text/plain;base64,aGVsbG8="},
        ]}],
    )
    assert r.output_text == "Echo: what is this [1 image] [1 document]"


# What Codex CLI sends on every turn (its request, trimmed): a `namespace` of sub-agent tools
# beside plain functions, and `web_search`.
CODEX_TOOLS = [
    WEATHER,
    {
        "type": "namespace",
        "name": "multi_agent_v1",
        "description": "Tools for spawning and managing sub-agents.",
        "tools": [
            {
                "type": "function",
                "name": "close_agent",
                "description": "Close an agent.",
                "strict": False,
                "parameters": {
                    "type": "object",
                    "properties": {"target": {"type": "string"}},
                    "required": ["target"],
                    "additionalProperties": False,
                },
            }
        ],
    },
    {"type": "web_search", "external_web_access": False},
]


@pytest.mark.parametrize("stream", [False, True])
def test_codex_namespace_tools_and_web_search(api, emulator, stream):
    """Namespaced functions reach Bedrock as `namespace__name` and come back split into the
    call's `namespace` and `name`; `web_search` is dropped and reported, not refused."""
    conversation: list = [{"role": "user", "content": "Close it. [scenario:tool:multi_agent_v1__close_agent]"}]
    raw = api.client.responses.with_raw_response.create(
        model="gpt-4o", input=conversation, tools=CODEX_TOOLS, stream=stream
    )
    assert raw.headers["x-bedrock-ignored-params"] == "tools.web_search"
    first = raw.parse()
    if stream:
        events = list(first)
        done = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert done.name == "close_agent"
        first = events[-1].response
    sent = emulator.last()["body"]
    assert [t["toolSpec"]["name"] for t in sent["toolConfig"]["tools"]] == ["get_weather", "multi_agent_v1__close_agent"]
    call = next(i for i in first.output if i.type == "function_call")
    assert (call.namespace, call.name) == ("multi_agent_v1", "close_agent")
    assert json.loads(call.arguments) == {"target": "target"}
    assert [t.type for t in first.tools] == ["function", "namespace"]
    # The next turn hands the call back with its namespace, as Codex does.
    conversation += [i.model_dump(exclude_none=True) for i in first.output]
    conversation.append({"type": "function_call_output", "call_id": call.call_id, "output": "closed"})
    second = api.client.responses.create(model="gpt-4o", input=conversation, tools=CODEX_TOOLS)
    assert second.output_text == f"Tool results: {call.call_id}=closed"
    assistant = emulator.last()["body"]["messages"][1]["content"]
    assert assistant[-1]["toolUse"]["name"] == "multi_agent_v1__close_agent"


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"conversation": "conv_123"}, "conversation"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type"),
        ({"tools": [{"type": "mcp", "server_label": "x", "server_url": "https://x"}]}, "tools[0].type"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ],
)
def test_stateful_fields_and_built_in_tools_are_refused(api, extra, param):
    body = {"model": "gpt-4o", "input": "hi", **extra}
    with pytest.raises(openai.BadRequestError) as e:
        api.client.responses.create(**body)
    assert e.value.status_code == 400
    assert e.value.body["param"] == param
    if param in ("previous_response_id", "conversation"):
        assert "full conversation" in e.value.body["message"]
    if param == "tools[0].type":
        assert f"`{extra['tools'][0]['type']}`" in e.value.body["message"]


def test_bedrock_errors_and_mid_stream_errors(api):
    with pytest.raises(openai.RateLimitError):
        api.client.responses.create(model="gpt-4o", input="[scenario:throttle] x")
    events = list(api.client.responses.create(model="gpt-4o", input="[scenario:stream-error] x y z", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-2:] == ["error", "response.failed"]
    assert events[-1].response.status == "failed"


def test_path_forms_and_method(api, gateway):
    r = httpx2.get(f"{gateway.base_url}/responses", headers={"authorization": "Bearer sk-local-demo"}, timeout=10)
    assert r.status_code == 405
    ok = api.post("/responses/", {"model": "gpt-4o", "input": "hi"})
    assert ok.status_code == 200 and ok.json()["object"] == "response"


# --- tenants, limits, usage and metrics, as for chat -----------------------------------------

KEY = "sk-responses-tenant-1"


@pytest.fixture(scope="module")
def tenanted(start_gateway):
    config = demo_plugin_config()
    config.pop("api_keys", None)
    config["tenants"] = {
        "resp": {
            "key_sha256": [hashlib.sha256(KEY.encode()).hexdigest()],
            "models": ["gpt-4o"],
            "limits": {"requests_per_minute": 4, "tokens_per_minute": 100000},
        }
    }
    return start_gateway("responses", plugin_config=config)


@pytest.fixture
def tapi(tenanted, emulator):
    emulator.reset()
    api = Api(tenanted)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


def test_tenant_limits_usage_and_metrics(tapi, tenanted):
    client = tapi.openai(KEY)
    raw = client.responses.with_raw_response.create(model="gpt-4o", input="count these four words")
    assert raw.http_response.headers["x-ratelimit-limit-requests"] == "4"
    assert raw.http_response.headers["x-ratelimit-remaining-requests"] == "3"
    first = raw.parse()
    streamed = list(client.responses.create(model="gpt-4o", input="stream me", stream=True))[-1].response
    with pytest.raises(openai.PermissionDeniedError):
        client.responses.create(model=HAIKU, input="not allowed")
    client.responses.create(model="gpt-4o", input="third")
    client.responses.create(model="gpt-4o", input="fourth")
    with pytest.raises(openai.RateLimitError) as e:
        client.responses.create(model="gpt-4o", input="fifth")
    assert e.value.body["code"] == "rate_limit_exceeded_requests"
    # The emulator counts words: "third" is 1 in, "Echo: third" 2 out; "fourth" the same.
    want = (
        first.usage.input_tokens + streamed.usage.input_tokens + 2,
        first.usage.output_tokens + streamed.usage.output_tokens + 4,
    )
    assert want == (4 + 2 + 2, 5 + 3 + 4)
    deadline = time.monotonic() + 5
    while True:
        data = httpx2.get(
            f"{tenanted.base_url}/usage", headers={"authorization": f"Bearer {KEY}"}, timeout=5
        ).json()["data"][0]
        if data["requests"] >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert data["requests"] == 4
    assert (data["input_tokens"], data["output_tokens"]) == want

    def requests_metric():
        """Requests of tenant `resp` on the model its alias calls, summed over workers' lines."""
        text = httpx2.get(f"{tenanted.admin_url}/stats/prometheus", timeout=5).text
        lines = [
            line for line in text.splitlines()
            if line.startswith(f"{METRICS}_requests{{") and 'bedrock_tenant="resp"' in line
            and "claude-3-5-sonnet" in line
        ]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines), lines

    deadline = time.monotonic() + 8
    # Four answered and the limiter's 429 (the model was known); the 403 names another model.
    while (value := requests_metric())[0] < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert value[0] == 5, value[1]


# --- the OpenAI Agents SDK --------------------------------------------------------------------


def test_agents_sdk_runs_a_function_tool_loop(api, emulator, gateway):
    """`openai-agents` (pinned in tests/requirements.txt, so a missing package fails, never
    skips) drives an agent whose tool the model calls, then answers from the tool's result,
    all over /v1/responses."""
    import agents
    agents.set_tracing_disabled(True)
    seen: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        seen.append(city)
        return f"sunny in {city}"

    client = openai.AsyncOpenAI(api_key="sk-local-demo", base_url=gateway.base_url, max_retries=0)
    model = agents.OpenAIResponsesModel(model="gpt-4o", openai_client=client)
    agent = agents.Agent(name="weather", instructions="Use the tool.", tools=[get_weather], model=model)
    result = agents.Runner.run_sync(agent, "Weather in Paris? [scenario:tool]")
    assert seen == ["city"]
    assert result.final_output.startswith("Tool results: tooluse_")
    assert result.final_output.endswith("=sunny in city")
    turns = [r["body"]["messages"] for r in emulator.bedrock_requests()]
    assert len(turns) == 2
    assert [m["role"] for m in turns[1]] == ["user", "assistant", "user"]
    assert "toolResult" in turns[1][2]["content"][0]


# --- reasoning handed back statelessly (`include: ["reasoning.encrypted_content"]`) -----------

INCLUDE = ["reasoning.encrypted_content"]


def emulator_signature(text: str) -> str:
    """What the emulator signs reasoning with (its README): stated here, not imported."""
    key = b"bedrock-emulator-reasoning-key"
    return base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode()


def unseal(item) -> dict:
    """An `encrypted_content` as this gateway makes it (opaque to clients: base64 of the
    block's JSON); decoded here only to check it."""
    return json.loads(base64.b64decode(item.encrypted_content))


def reasoning_turn(api, conversation, stream, **kwargs):
    """One turn with reasoning and the weather tool; the items to hand back. Streamed, the items
    of `response.output_item.done` are the final response's, `encrypted_content` included."""
    kwargs = dict(model=SONNET_45, input=conversation, tools=[WEATHER], reasoning={"effort": "low"}, **kwargs)
    if stream:
        events = list(api.client.responses.create(stream=True, **kwargs))
        r = events[-1].response
        done = [e.item.model_dump(exclude_none=True) for e in events if e.type == "response.output_item.done"]
        assert done == [i.model_dump(exclude_none=True) for i in r.output]
        added = [e.item for e in events if e.type == "response.output_item.added"]
        assert all(getattr(i, "encrypted_content", None) is None for i in added)
    else:
        r = api.client.responses.create(**kwargs)
    assert r.status == "completed"
    return r


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_and_tools_over_three_turns_statelessly(api, emulator, stream):
    """Codex's way: every turn sends the whole conversation with the reasoning items as they
    came (their `encrypted_content`); the emulator, checking signatures like Anthropic, accepts
    each turn, and gets the reasoning back first in its assistant turn, before the `toolUse`."""
    conversation: list = [{"role": "user", "content": "Weather in Paris? [scenario:tool] [scenario:redacted-thinking]"}]
    first = reasoning_turn(api, conversation, stream, include=INCLUDE)
    assert [i.type for i in first.output][:2] == ["reasoning", "reasoning"]
    assert first.output[-1].type == "function_call"
    text = first.output[0].summary[0].text
    assert unseal(first.output[0]) == {"type": "thinking", "thinking": text, "signature": emulator_signature(text)}
    redacted = unseal(first.output[1])
    assert redacted["type"] == "redacted_thinking" and first.output[1].summary == []
    call = first.output[-1]
    conversation += [i.model_dump(exclude_none=True) for i in first.output]
    conversation.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny"})
    second = reasoning_turn(api, conversation, stream, include=INCLUDE)
    assert second.output_text == f"Tool results: {call.call_id}=sunny"
    conversation += [i.model_dump(exclude_none=True) for i in second.output]
    conversation.append({"role": "user", "content": "And Rome? [scenario:tool]"})
    third = reasoning_turn(api, conversation, stream, include=INCLUDE)
    calls = [i for i in third.output if i.type == "function_call"]
    assert len(calls) == 1
    conversation += [i.model_dump(exclude_none=True) for i in third.output]
    conversation.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "rain"})
    last = reasoning_turn(api, conversation, stream, include=INCLUDE)
    assert last.output_text.startswith("Tool results: ")
    raw = api.last()
    assert "x-bedrock-ignored-params" not in raw.headers
    sent = emulator.last()["body"]["messages"]
    assistant = [m["content"] for m in sent if m["role"] == "assistant"]
    assert len(assistant) == 3
    assert [next(iter(b)) for b in assistant[0]][:2] == ["reasoningContent", "reasoningContent"]
    assert assistant[0][1]["reasoningContent"]["redactedContent"] == redacted["data"]
    assert assistant[0][-1]["toolUse"]["toolUseId"] == call.call_id
    assert all(next(iter(turn[0])) == "reasoningContent" for turn in assistant)
    assert next(iter(assistant[2][-1])) == "toolUse"


def test_without_include_reasoning_has_no_encrypted_content_and_is_dropped(api, emulator):
    first = reasoning_turn(api, [{"role": "user", "content": "Weather? [scenario:tool] [scenario:redacted-thinking]"}], False)
    # As OpenAI: nothing encrypted unless asked; the redacted block has nothing else to show.
    assert [i.type for i in first.output][0] == "reasoning"
    assert [i.type for i in first.output].count("reasoning") == 1
    assert first.output[0].encrypted_content is None
    conversation = [{"role": "user", "content": "Weather?"}] + [i.model_dump(exclude_none=True) for i in first.output]
    conversation.append({"type": "function_call_output", "call_id": first.output[-1].call_id, "output": "sunny"})
    # Handed back without its signed block, the reasoning is dropped and reported; Bedrock
    # (Anthropic's rule with thinking and tools) refuses the turn.
    with pytest.raises(openai.BadRequestError) as e:
        reasoning_turn(api, conversation, False)
    assert "Expected `thinking`" in e.value.body["message"]
    assert "input.reasoning" in e.value.response.headers["x-bedrock-ignored-params"]
    # Without tools in the turn it is only reported.
    raw = api.client.responses.with_raw_response.create(
        model=SONNET_45,
        input=[{"role": "user", "content": "a"}, {"type": "reasoning", "id": "rs_1", "summary": []},
               {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
    )
    assert raw.headers["x-bedrock-ignored-params"] == "input.reasoning"
    assert raw.parse().output_text == "Echo: c"


def test_changed_encrypted_content_is_bedrocks_400_and_malformed_is_ours(api, emulator):
    conversation: list = [{"role": "user", "content": "Weather? [scenario:tool]"}]
    first = reasoning_turn(api, conversation, False, include=INCLUDE)
    items = [i.model_dump(exclude_none=True) for i in first.output]
    block = unseal(first.output[0])
    block["thinking"] += " (edited)"
    items[0]["encrypted_content"] = base64.b64encode(json.dumps(block).encode()).decode()
    result = {"type": "function_call_output", "call_id": first.output[-1].call_id, "output": "sunny"}
    with pytest.raises(openai.BadRequestError) as e:
        reasoning_turn(api, conversation + items + [result], False, include=INCLUDE)
    assert "Invalid `signature`" in e.value.body["message"]
    assert e.value.body["type"] == "invalid_request_error"
    emulator.reset()
    items[0]["encrypted_content"] = "not what we sent!"
    with pytest.raises(openai.BadRequestError) as e:
        reasoning_turn(api, conversation + items + [result], False, include=INCLUDE)
    assert e.value.body["param"] == "input[1].encrypted_content"
    assert emulator.bedrock_requests() == []
