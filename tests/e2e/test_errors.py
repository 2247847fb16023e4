"""Error paths through real Envoy + the filter: local validation and authentication, every
Bedrock error the emulator can produce (unary and streaming), exceptions in the middle of a
stream, and a wrong AWS secret surfacing as 403. The SDK clients never retry (max_retries=0).
Every error body is validated against OpenAI's `ErrorResponse` schema."""

from __future__ import annotations

import json
import time

import openai
import pytest

import openai_schema
from e2e_support import DEMO_ACCESS_KEY_ID, SONNET, Api, demo_plugin_config, validate_exchange


def user(text):
    return [{"role": "user", "content": text}]


def error_body(exchange):
    body = exchange.json()
    openai_schema.validate_error(body)
    return body["error"]


def assert_no_upstream_call(emulator):
    assert emulator.bedrock_requests() == [], "the filter forwarded a request it should answer itself"


# --- authentication -----------------------------------------------------------------------------


def test_missing_authorization_is_401(api, emulator):
    with pytest.raises(openai.AuthenticationError) as info:
        api.client.chat.completions.create(
            model=SONNET, messages=user("hi"), extra_headers={"Authorization": openai.Omit()}
        )
    assert info.value.status_code == 401
    assert "authorization" not in api.last().request_headers
    error = error_body(api.last())
    assert error["type"] == "authentication_error"
    assert_no_upstream_call(emulator)


def test_unknown_api_key_is_401(api, emulator):
    client = api.openai("sk-not-a-configured-key")
    for stream in (False, True):
        with pytest.raises(openai.AuthenticationError) as info:
            client.chat.completions.create(model=SONNET, messages=user("hi"), stream=stream)
        assert info.value.status_code == 401
        assert error_body(api.last())["type"] == "authentication_error"
    assert_no_upstream_call(emulator)


@pytest.mark.parametrize(
    "authorization",
    ["Basic c2stbG9jYWwtZGVtbzo=", "Bearer", "sk-local-demo", "Bearer sk-local-demo-suffix", "Bearer sk-local-dem"],
)
def test_malformed_authorization_is_401(api, emulator, authorization):
    response = api.post(
        "/chat/completions",
        {"model": SONNET, "messages": user("hi")},
        api_key=None,
        headers={"authorization": authorization},
    )
    assert response.status_code == 401, response.text
    assert error_body(api.last())["type"] == "authentication_error"
    assert_no_upstream_call(emulator)


# --- local request validation --------------------------------------------------------------


def test_bad_json_is_400(api, emulator):
    response = api.post("/chat/completions", b'{"model": "gpt-4o", "messages": [')
    assert response.status_code == 400
    error = error_body(api.last())
    assert error["type"] == "invalid_request_error"
    assert_no_upstream_call(emulator)


@pytest.mark.parametrize(
    "body,param",
    [
        ({"messages": user("hi")}, "model"),
        ({"model": SONNET}, "messages"),
        ({"model": SONNET, "messages": "hi"}, "messages"),
        ({"model": 42, "messages": user("hi")}, "model"),
        ({"model": SONNET, "messages": user("hi"), "max_tokens": "ten"}, "max_tokens"),
        ({"model": SONNET, "messages": user("hi"), "temperature": "hot"}, "temperature"),
        ({"model": SONNET, "messages": user("hi"), "stream": "yes"}, "stream"),
    ],
    ids=[
        "missing model",
        "missing messages",
        "messages a string",
        "model a number",
        "max_tokens a string",
        "temperature a string",
        "stream a string",
    ],
)
def test_invalid_request_is_400_with_param(api, emulator, body, param):
    response = api.post("/chat/completions", body)
    assert response.status_code == 400, response.text
    error = error_body(api.last())
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    assert_no_upstream_call(emulator)


def test_request_body_not_an_object_is_400(api, emulator):
    response = api.post("/chat/completions", b'["model", "messages"]')
    assert response.status_code == 400
    assert error_body(api.last())["type"] == "invalid_request_error"
    assert_no_upstream_call(emulator)


def test_sdk_bad_request_error(api):
    """The SDK view of a local 400: BadRequestError with the param."""
    with pytest.raises(openai.BadRequestError) as info:
        api.client.chat.completions.create(model=SONNET, messages=user("hi"), max_tokens="ten")
    assert info.value.status_code == 400
    assert info.value.body["type"] == "invalid_request_error"
    assert info.value.body["param"] == "max_tokens"


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": -1}, "max_completion_tokens"),
        ({"messages": []}, "messages"),
    ],
    ids=["temperature 2.5", "temperature -0.1", "top_p 1.5", "max_tokens 0", "max_completion_tokens -1", "no messages"],
)
def test_values_outside_openai_ranges_are_400(api, extra, param):
    """Outside the ranges of OpenAI's CreateChatCompletionRequest: 400, from the filter itself
    or from Bedrock's ValidationException."""
    kwargs = {"model": SONNET, "messages": user("hi"), **extra}
    with pytest.raises(openai.BadRequestError) as info:
        api.client.chat.completions.create(**kwargs)
    assert info.value.status_code == 400
    assert info.value.body["type"] == "invalid_request_error"
    if info.value.body.get("code") != "ValidationException":  # answered locally
        assert info.value.body["param"] == param


def test_unknown_path_is_404(api, emulator):
    response = api.post("/nope", {"model": SONNET, "messages": user("hi")})
    assert response.status_code == 404
    error_body(api.last())
    response = api.http.get(f"{api.gateway.base_url}/nope", headers={"authorization": "Bearer sk-local-demo"})
    assert response.status_code == 404
    error_body(api.last())
    assert_no_upstream_call(emulator)


def test_sdk_not_found_for_unknown_path(api):
    with pytest.raises(openai.NotFoundError) as info:
        api.client.post("/nope", cast_to=object, body={})
    assert info.value.status_code == 404


# --- Bedrock errors -------------------------------------------------------------------------

# (Bedrock exception, OpenAI status, the SDK's exception class, OpenAI error type or None when
# issue 3 does not fix it)
BEDROCK_ERRORS = [
    ("ValidationException", 400, openai.BadRequestError, "invalid_request_error"),
    ("AccessDeniedException", 403, openai.PermissionDeniedError, None),
    ("ResourceNotFoundException", 404, openai.NotFoundError, None),
    ("ThrottlingException", 429, openai.RateLimitError, "rate_limit_error"),
    ("ServiceQuotaExceededException", 429, openai.RateLimitError, "rate_limit_error"),
    ("ModelNotReadyException", 429, openai.RateLimitError, "rate_limit_error"),
    ("ModelTimeoutException", 408, openai.APIStatusError, None),
    ("ModelErrorException", 502, openai.InternalServerError, "upstream_error"),
    ("ServiceUnavailableException", 503, openai.InternalServerError, None),
    ("InternalServerException", 500, openai.InternalServerError, None),
]


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("name,status,exc_class,error_type", BEDROCK_ERRORS, ids=[e[0] for e in BEDROCK_ERRORS])
def test_bedrock_error_mapping(api, emulator, name, status, exc_class, error_type, stream):
    with pytest.raises(openai.APIStatusError) as info:
        api.client.chat.completions.create(
            model=SONNET, messages=user(f"[scenario:error:{name}] please fail"), stream=stream
        )
    err = info.value
    assert type(err) is exc_class, f"{name}: got {type(err).__name__} ({err.status_code})"
    assert err.status_code == status
    error = error_body(api.last())
    assert f"Emulated {name} from the Bedrock emulator." in error["message"]
    assert error["code"] == name
    if error_type:
        assert error["type"] == error_type
    assert error["type"]
    received = emulator.last()
    assert received["error"] == name
    assert received["path"].endswith("/converse-stream" if stream else "/converse")


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_throttle_scenario_is_429_before_any_chunk(api, stream):
    with pytest.raises(openai.RateLimitError) as info:
        api.client.chat.completions.create(
            model=SONNET, messages=user("[scenario:throttle] hi"), stream=stream
        )
    assert info.value.status_code == 429
    error = error_body(api.last())
    assert error["type"] == "rate_limit_error"
    assert error["code"] == "ThrottlingException"
    assert "Too many requests" in error["message"]
    assert api.last().content_type == "application/json"


def _error_event(exchange):
    events = exchange.sse_events()
    assert "[DONE]" not in events, "a failed stream must not end with [DONE]"
    payloads = [json.loads(e) for e in events]
    errors = [p for p in payloads if "error" in p]
    assert len(errors) == 1, events
    assert payloads[-1] is errors[0], "the error must be the last event"
    openai_schema.validate_error(errors[0])
    for chunk in payloads[:-1]:
        openai_schema.validate_chunk(chunk)
    return payloads[:-1], errors[0]["error"]


def test_stream_error_mid_stream(api, emulator):
    stream = api.client.chat.completions.create(
        model=SONNET, messages=user("[scenario:stream-error] one two three four five"), stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert not isinstance(info.value, openai.APIStatusError)
    assert "Emulated model stream error" in info.value.message
    content = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert content == "Echo: one ", "the deltas before the exception must reach the client"
    chunks, error = _error_event(api.last())
    assert chunks, "no content chunk before the error"
    assert "Emulated model stream error" in error["message"]
    assert error["code"].lower() == "modelstreamerrorexception"
    assert error["type"] == "upstream_error"
    assert emulator.last()["error"] == "modelStreamErrorException"


def test_throttling_exception_mid_stream(api):
    stream = api.client.chat.completions.create(
        model=SONNET, messages=user("[scenario:stream-error:throttlingException] a b c"), stream=True
    )
    with pytest.raises(openai.APIError):
        list(stream)
    _, error = _error_event(api.last())
    assert error["type"] == "rate_limit_error"
    assert error["code"].lower() == "throttlingexception"


def test_stream_error_raw_http(api):
    response = api.post(
        "/chat/completions",
        {"model": SONNET, "messages": user("[scenario:stream-error] raw error stream"), "stream": True},
    )
    assert response.status_code == 200  # the error arrives after the headers
    assert response.headers["content-type"].startswith("text/event-stream")
    _error_event(api.last())


@pytest.mark.parametrize("marker", ["[scenario:corrupt]", "[scenario:corrupt-prelude]", "[scenario:truncate]"])
def test_broken_upstream_stream_ends_with_an_error(api, marker):
    """A frame with a bad CRC, or a body that ends inside a frame: the deltas before it reach
    the client, then one SSE error event and the end of the stream (no hang, no [DONE], no
    raw event-stream bytes)."""
    started = time.monotonic()
    stream = api.client.chat.completions.create(
        model=SONNET, messages=user(f"{marker} one two three"), stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert time.monotonic() - started < 10
    assert not isinstance(info.value, openai.APIStatusError)
    content = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert content == "Echo: one "
    _, error = _error_event(api.last())
    assert error["type"] and error["message"]
    raw = bytes(api.last().body)
    assert b"never delivered" not in raw and b":event-type" not in raw
    assert b"after" not in raw, "the stream went on after a corrupt frame"


def test_unparsable_converse_answer_is_an_error(api):
    with pytest.raises(openai.APIStatusError) as info:
        api.client.chat.completions.create(model=SONNET, messages=user("[scenario:bad-json] x"))
    assert info.value.status_code >= 500
    error_body(api.last())


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("status", [400, 502, 503])
def test_upstream_error_without_bedrock_error_type(api, status, stream):
    """A non-JSON error from something in front of Bedrock still becomes an OpenAI error."""
    with pytest.raises(openai.APIStatusError) as info:
        api.client.chat.completions.create(
            model=SONNET, messages=user(f"[scenario:raw-status:{status}] x"), stream=stream
        )
    assert info.value.status_code == status
    error = error_body(api.last())  # JSON in OpenAI's shape, whatever the upstream body was
    assert error["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("status, expected", [(404, 404), (503, 503), (500, 502), (200, 502)])
def test_bodyless_upstream_error_is_answered_not_hung(api, status, expected, stream):
    """A response with no body at all (e.g. Envoy's own 404 on a route miss) must still get an
    OpenAI error, not a paused response that never ends (the SDK's 30 s timeout would fire)."""
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        api.client.chat.completions.create(
            model=SONNET, messages=user(f"[scenario:empty-status:{status}] x"), stream=stream
        )
    assert info.value.status_code == expected
    assert error_body(api.last())["message"]
    assert time.monotonic() - started < 20, "the answer only came after a client timeout"


# --- wrong AWS credentials --------------------------------------------------------------------


@pytest.fixture(scope="module")
def make_api(emulator):
    apis = []

    def make(gateway):
        emulator.reset()
        api = Api(gateway)
        apis.append(api)
        return api

    yield make
    for api in apis:
        api.close()
        for exchange in api.exchanges:
            validate_exchange(exchange)


@pytest.fixture(scope="module")
def wrong_secret_in_config(start_gateway):
    config = demo_plugin_config()
    config["credentials"] = {"access_key_id": DEMO_ACCESS_KEY_ID, "secret_access_key": "wrong"}
    return start_gateway("wrong-secret-config", plugin_config=config)


@pytest.fixture(scope="module")
def wrong_secret_in_env(start_gateway):
    return start_gateway("wrong-secret-env", env={"AWS_SECRET_ACCESS_KEY": "wrong"})


@pytest.mark.parametrize("where", ["config", "env"])
@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_wrong_secret_is_403(request, make_api, emulator, where, stream):
    gateway = request.getfixturevalue(f"wrong_secret_in_{where}")
    api = make_api(gateway)
    with pytest.raises(openai.PermissionDeniedError) as info:
        api.client.chat.completions.create(model=SONNET, messages=user("hi"), stream=stream)
    assert info.value.status_code == 403
    error = error_body(api.last())
    assert "signature we calculated does not match" in error["message"]
    assert error["code"] == "InvalidSignatureException"
    received = emulator.last()
    assert received["status"] == 403
    assert received["error"] == "InvalidSignatureException"
    assert received["headers"]["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={DEMO_ACCESS_KEY_ID}/")


def test_session_token_is_sent_when_present(start_emulator, start_gateway, make_api):
    token = "demo-session-token-for-the-emulator"
    upstream = start_emulator("session-token", env={"AWS_SESSION_TOKEN": token})
    gateway = start_gateway("session-token", env={"AWS_SESSION_TOKEN": token}, upstream=upstream)
    api = make_api(gateway)
    completion = api.client.chat.completions.create(model=SONNET, messages=user("with token"))
    assert completion.choices[0].message.content == "Echo: with token"
    received = upstream.last()
    assert received["headers"]["x-amz-security-token"] == token
    signed = received["headers"]["authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert "x-amz-security-token" in signed.split(";")


def test_missing_session_token_is_403(start_emulator, start_gateway, make_api):
    """Bedrock answers UnrecognizedClientException when a required token is missing."""
    upstream = start_emulator("token-required", env={"AWS_SESSION_TOKEN": "required-token"})
    gateway = start_gateway("no-token", upstream=upstream)
    api = make_api(gateway)
    with pytest.raises(openai.PermissionDeniedError) as info:
        api.client.chat.completions.create(model=SONNET, messages=user("no token"))
    assert info.value.status_code == 403
    error = error_body(api.last())
    assert error["code"] == "UnrecognizedClientException"
    assert "security token included in the request is invalid" in error["message"]


# --- still healthy afterwards (keep last in this file) -----------------------------------------


def test_still_serves_normal_requests_after_errors(api, gateway):
    assert gateway.alive(), "envoy exited"
    completion = api.client.chat.completions.create(model="gpt-4o", messages=user("still alive"))
    assert completion.choices[0].message.content == "Echo: still alive"
    chunks = list(
        api.client.chat.completions.create(
            model="gpt-4o",
            messages=user("still streaming"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: still streaming"
    assert chunks[-1].usage.total_tokens == 2 + 3
    assert api.last().sse_events()[-1] == "[DONE]"
