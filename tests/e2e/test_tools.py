"""Tools, images, JSON output, reasoning and parameter handling, end to end: the official
`openai` SDK → real Envoy + the filter → the Bedrock emulator (which validates every body with
botocore and answers deterministically; see its docstring, "Tools, images, reasoning, JSON").
Every response and chunk is also checked against OpenAI's schema by the `api` fixture."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest


SONNET_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_2 = "us.amazon.nova-2-lite-v1:0"
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "population": {"type": "integer", "minimum": 1000},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "population", "tags"],
    "additionalProperties": False,
}


def user(text):
    return [{"role": "user", "content": text}]


def tool_calls_from_stream(chunks):
    """Reassembles streamed tool calls the way SDK users do: by `index`."""
    calls: dict[int, dict] = {}
    for chunk in chunks:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            if tc.id:
                call["id"] = tc.id
            if tc.function and tc.function.name:
                call["name"] = tc.function.name
            if tc.function and tc.function.arguments:
                call["arguments"] += tc.function.arguments
    return [calls[i] for i in sorted(calls)]


def finish_of(chunks):
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def content_of(chunks):
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- tools ------------------------------------------------------------------------------------


def test_tool_call_non_stream(api, emulator):
    c = api.client.chat.completions.create(
        model="gpt-4o", messages=user("Weather in Paris? [scenario:tool]"), tools=[WEATHER]
    )
    choice = c.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Echo: Weather in Paris?"
    [call] = choice.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "city", "unit": "c"}
    sent = emulator.last()["body"]
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == WEATHER["function"]["parameters"]
    assert "toolChoice" not in sent["toolConfig"]


def test_tool_call_stream(api):
    chunks = list(
        api.client.chat.completions.create(
            model="gpt-4o", messages=user("Weather? [scenario:tool]"), tools=[WEATHER], stream=True
        )
    )
    calls = tool_calls_from_stream(chunks)
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("get_weather", {"city": "city", "unit": "c"})
    ]
    assert calls[0]["id"].startswith("tooluse_")
    assert content_of(chunks) == "Echo: Weather?"
    assert finish_of(chunks) == ["tool_calls"]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(api, emulator, stream):
    messages = user("Weather in Paris? [scenario:tool]")
    first = api.client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    messages = messages + [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 21})},
    ]
    if stream:
        chunks = list(
            api.client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER], stream=True)
        )
        text, finish = content_of(chunks), finish_of(chunks)[0]
    else:
        second = api.client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER])
        text, finish = second.choices[0].message.content, second.choices[0].finish_reason
    assert text == f'Tool results: {call.id}={{"temp_c":21}}'
    assert finish == "stop"
    sent = emulator.last()["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"][-1]["toolUse"]["toolUseId"] == call.id
    assert sent[2]["content"] == [
        {"toolResult": {"toolUseId": call.id, "content": [{"json": {"temp_c": 21}}]}}
    ]


def test_parallel_tool_calls_streamed_and_answered(api, emulator):
    messages = user("Weather and time? [scenario:parallel-tools]")
    chunks = list(
        api.client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER, TIME], stream=True)
    )
    indices = sorted({tc.index for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []})
    assert indices == [0, 1]
    calls = tool_calls_from_stream(chunks)
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[1]["arguments"]) == {"zone": "zone-2"}
    assert finish_of(chunks) == ["tool_calls"]
    # Both results as consecutive tool messages: one Bedrock user turn.
    messages = messages + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls]},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": [{"type": "text", "text": "noon"}]},
    ]
    done = api.client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER, TIME])
    assert done.choices[0].message.content == (
        f"Tool results: {calls[0]['id']}=sunny | {calls[1]['id']}=noon"
    )
    last_turn = emulator.last()["body"]["messages"][-1]
    assert [list(b) for b in last_turn["content"]] == [["toolResult"], ["toolResult"]]


@pytest.mark.parametrize(
    "tool_choice,name,bedrock_choice",
    [
        ("required", "get_weather", {"any": {}}),
        ({"type": "function", "function": {"name": "get_time"}}, "get_time", {"tool": {"name": "get_time"}}),
    ],
)
def test_forced_tool_choice(api, emulator, tool_choice, name, bedrock_choice):
    c = api.client.chat.completions.create(
        model="gpt-4o", messages=user("anything"), tools=[WEATHER, TIME], tool_choice=tool_choice
    )
    assert c.choices[0].finish_reason == "tool_calls"
    assert c.choices[0].message.content is None
    assert [t.function.name for t in c.choices[0].message.tool_calls] == [name]
    assert emulator.last()["body"]["toolConfig"]["toolChoice"] == bedrock_choice


def test_tool_choice_none(api, emulator):
    # No tool history: the tools are not sent at all.
    c = api.client.chat.completions.create(
        model="gpt-4o", messages=user("hi [scenario:tool]"), tools=[WEATHER], tool_choice="none"
    )
    assert c.choices[0].message.tool_calls is None
    assert c.choices[0].finish_reason == "stop"
    assert "toolConfig" not in emulator.last()["body"]
    # Tool history: toolConfig stays (Bedrock requires it); a tool call the model still makes
    # (the emulator obeys the marker) never reaches the client, streaming or not.
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": "And now? [scenario:tool]"},
    ]
    c = api.client.chat.completions.create(model="gpt-4o", messages=history, tools=[WEATHER], tool_choice="none")
    assert c.choices[0].message.tool_calls is None
    assert c.choices[0].finish_reason == "stop"
    assert c.choices[0].message.content == "Tool results: call_1=sunny"
    sent = emulator.last()["body"]
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    assert "toolChoice" not in sent["toolConfig"]
    chunks = list(
        api.client.chat.completions.create(
            model="gpt-4o", messages=history, tools=[WEATHER], tool_choice="none", stream=True
        )
    )
    assert tool_calls_from_stream(chunks) == []
    assert finish_of(chunks) == ["stop"]
    # History with tool calls but no `tools` at all: stand-in tools keep Bedrock happy.
    c = api.client.chat.completions.create(model="gpt-4o", messages=history)
    assert c.choices[0].message.tool_calls is None
    assert emulator.last()["body"]["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"


def test_bad_tool_arguments_are_a_400_naming_the_field(api):
    with pytest.raises(openai.BadRequestError) as e:
        api.client.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{oops"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "r"},
            ],
            tools=[WEATHER],
        )
    assert e.value.body["param"] == "messages[1].tool_calls[0].function.arguments"


# --- images -----------------------------------------------------------------------------------


def test_image_data_url(api, emulator):
    c = api.client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}},
        ]}],
    )
    assert c.choices[0].message.content == "Echo: What is this? [1 image]"
    block = emulator.last()["body"]["messages"][0]["content"][1]
    assert block == {"image": {"format": "png", "source": {"bytes": PNG_1X1}}}


def test_remote_image_url_is_a_400(api, emulator):
    with pytest.raises(openai.BadRequestError) as e:
        api.client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ]}],
        )
    assert e.value.body["param"] == "messages[0].content[1].image_url"
    assert "data:" in e.value.body["message"]
    assert emulator.bedrock_requests() == []


# --- JSON output ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_json_object(api, emulator, stream):
    kwargs = dict(model="gpt-4o", messages=user("A city as JSON"), response_format={"type": "json_object"})
    if stream:
        chunks = list(api.client.chat.completions.create(stream=True, **kwargs))
        text, finish = content_of(chunks), finish_of(chunks)[0]
        assert tool_calls_from_stream(chunks) == []
    else:
        c = api.client.chat.completions.create(**kwargs)
        text, finish = c.choices[0].message.content, c.choices[0].finish_reason
        assert c.choices[0].message.tool_calls is None
    assert isinstance(json.loads(text), dict)
    assert finish == "stop"
    sent = emulator.last()["body"]
    assert sent["toolConfig"]["toolChoice"] == {"tool": {"name": "json_response"}}


@pytest.mark.parametrize(
    "model,native",
    [("gpt-4o", False), (SONNET_45, True)],
    ids=["forced-tool-fallback", "native-outputConfig"],
)
@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_content_validates(api, emulator, model, native, stream):
    kwargs = dict(
        model=model,
        messages=user("Describe a city"),
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True}},
    )
    if stream:
        chunks = list(api.client.chat.completions.create(stream=True, **kwargs))
        text, finish = content_of(chunks), finish_of(chunks)[0]
    else:
        c = api.client.chat.completions.create(**kwargs)
        text, finish = c.choices[0].message.content, c.choices[0].finish_reason
    value = json.loads(text)
    jsonschema.validate(value, CITY_SCHEMA)
    assert finish == "stop"
    sent = emulator.last()["body"]
    if native:
        assert json.loads(sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"]) == CITY_SCHEMA
        assert "toolConfig" not in sent
    else:
        assert "outputConfig" not in sent
        assert sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == CITY_SCHEMA


def test_sdk_parse_helper_with_pydantic(api):
    pydantic = pytest.importorskip("pydantic")

    class City(pydantic.BaseModel):
        name: str
        population: int

    c = api.client.chat.completions.parse(model="gpt-4o", messages=user("A city"), response_format=City)
    parsed = c.choices[0].message.parsed
    assert isinstance(parsed, City)
    assert parsed.name == "name"


# --- reasoning --------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_effort_gives_reasoning_content(api, emulator, stream):
    kwargs = dict(model=SONNET_45, messages=user("Think about it"), reasoning_effort="medium")
    if stream:
        raw = list(api.client.chat.completions.create(stream=True, **kwargs))
        reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in raw if c.choices)
        content = content_of(raw)
    else:
        c = api.client.chat.completions.create(**kwargs)
        reasoning = c.choices[0].message.reasoning_content
        content = c.choices[0].message.content
    assert reasoning == "Reasoning about: Think about it"
    assert content == "Echo: Think about it"
    sent = emulator.last()["body"]
    assert sent["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 4096}}
    assert sent["inferenceConfig"]["maxTokens"] > 4096


def test_reasoning_on_nova_2(api, emulator):
    c = api.client.chat.completions.create(model=NOVA_2, messages=user("Plan"), reasoning_effort="high")
    assert c.choices[0].message.reasoning_content == "Reasoning about: Plan"
    assert emulator.last()["body"]["additionalModelRequestFields"] == {
        "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}
    }


# --- parameters -------------------------------------------------------------------------------


def test_ignored_params_header(api, emulator):
    raw = api.client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=user("hi"),
        seed=42,
        presence_penalty=0.5,
        logprobs=True,
        user="user-1",
        metadata={"team": "search"},
        extra_body={"some_future_field": 1},
    )
    assert raw.headers["x-bedrock-ignored-params"] == "logprobs,presence_penalty,seed,some_future_field"
    assert raw.parse().choices[0].message.content == "Echo: hi"
    assert emulator.last()["body"]["requestMetadata"] == {"user": "user-1", "team": "search"}
    stream = api.client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=user("hi"), seed=1, stream=True
    )
    assert stream.headers["x-bedrock-ignored-params"] == "seed"
    assert "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices) == "Echo: hi"
    quiet = api.client.chat.completions.with_raw_response.create(model="gpt-4o", messages=user("hi"), seed=None)
    assert "x-bedrock-ignored-params" not in quiet.headers


def test_temperature_and_top_p_on_claude_4_5(api, emulator):
    raw = api.client.chat.completions.with_raw_response.create(
        model=SONNET_45, messages=user("hi"), temperature=0.4, top_p=0.9
    )
    assert raw.headers["x-bedrock-ignored-params"] == "top_p"
    assert emulator.last()["body"]["inferenceConfig"] == {"temperature": 0.4}


def test_n_above_one_is_a_400(api, emulator):
    with pytest.raises(openai.BadRequestError) as e:
        api.client.chat.completions.create(model="gpt-4o", messages=user("hi"), n=2)
    assert e.value.body["param"] == "n"
    assert emulator.bedrock_requests() == []


def test_bedrock_model_extension_wins(api, emulator):
    c = api.client.chat.completions.create(
        model="gpt-4o", messages=user("hi"), extra_body={"bedrock_model": NOVA_2}
    )
    assert c.model == "gpt-4o"
    assert emulator.last()["model_id"] == NOVA_2


def test_conversation_starting_with_assistant(api, emulator):
    c = api.client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "Be nice"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me a joke"},
            {"role": "developer", "content": "Short jokes only"},
        ],
    )
    assert c.choices[0].message.content == "Echo: Tell me a joke"
    sent = emulator.last()["body"]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["system"] == [{"text": "Be nice"}, {"text": "Short jokes only"}]
