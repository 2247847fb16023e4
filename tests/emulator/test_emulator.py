"""Self-test of the Bedrock emulator, driven by botocore's real `bedrock-runtime` client.

Runs without Envoy or the filter: `.venv/bin/pytest -q tests/emulator`.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

import bedrock_emulator as emu

MODEL_ID = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
MODEL_PATH = "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"
REGION = "us-east-1"
# Our text + tool-use stream (written by the Rust encoder, laid out like a real Bedrock answer:
# tests/fixtures/eventstream/README.md). `make conformance` also runs the real recorded captures
# through the same check ($BEDROCK_CAPTURES_DIR).
FIXTURE_STREAM = (
    Path(__file__).resolve().parents[2] / "tests/fixtures/eventstream/converse-stream-text-tooluse.bin"
)


def start_server(session_token: str | None = None, plain_errortype: bool = False):
    config = emu.EmulatorConfig(
        auth=emu.AuthConfig(
            emu.DEMO_ACCESS_KEY_ID, emu.DEMO_SECRET_ACCESS_KEY, REGION, session_token
        ),
        model=emu.load_service_model(),
        plain_errortype=plain_errortype,
        quiet=True,
    )
    server = emu.make_server("127.0.0.1", 0, config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def emulator():
    server, url = start_server()
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _clean_aws_env(monkeypatch):
    # Keep a developer's real AWS settings out of the client (bearer token, profile, token).
    for name in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)


def make_client(url, secret=emu.DEMO_SECRET_ACCESS_KEY, key=emu.DEMO_ACCESS_KEY_ID, token=None):
    return botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=10, connect_timeout=5),
    )


@pytest.fixture(scope="module")
def client(emulator):
    return make_client(emulator)


def user(text):
    return [{"role": "user", "content": [{"text": text}]}]


def signed_post(url, path, body: bytes, *, secret=emu.DEMO_SECRET_ACCESS_KEY, extra=None):
    """POST raw bytes signed with botocore's SigV4Auth (as a filter would sign them)."""
    full = f"{url}{path}"
    request = AWSRequest(
        method="POST", url=full, data=body, headers={"Content-Type": "application/json", **(extra or {})}
    )
    SigV4Auth(Credentials(emu.DEMO_ACCESS_KEY_ID, secret), "bedrock", REGION).add_auth(request)
    return requests.post(full, data=body, headers=dict(request.headers.items()), timeout=10)


def recorded(url):
    return requests.get(f"{url}/_emulator/requests", timeout=5).json()


# --- answers --------------------------------------------------------------------------------


def test_converse_echoes_last_user_message(client):
    out = client.converse(
        modelId=MODEL_ID,
        system=[{"text": "You are terse."}],
        messages=[
            {"role": "user", "content": [{"text": "first question"}]},
            {"role": "assistant", "content": [{"text": "first answer"}]},
            {"role": "user", "content": [{"text": "Say"}, {"text": "hello  to\nme"}]},
        ],
    )
    assert out["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": "Echo: Say hello to me"}],
    }
    assert out["stopReason"] == "end_turn"
    # input: 3 (system) + 2 + 2 + 1 + 3 = 11 words; output: "Echo: Say hello to me" = 5.
    assert out["usage"] == {"inputTokens": 11, "outputTokens": 5, "totalTokens": 16}
    assert out["metrics"]["latencyMs"] >= 0
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_converse_max_tokens(client):
    out = client.converse(
        modelId=MODEL_ID,
        messages=user("one two three four five"),
        inferenceConfig={"maxTokens": 3},
    )
    assert out["output"]["message"]["content"][0]["text"] == "Echo: one two"
    assert out["stopReason"] == "max_tokens"
    assert out["usage"]["outputTokens"] == 3


def test_converse_stop_sequence(client):
    out = client.converse(
        modelId=MODEL_ID,
        messages=user("alpha beta STOP gamma"),
        inferenceConfig={"stopSequences": ["STOP", "gamma"], "temperature": 0.5, "topP": 1},
    )
    assert out["output"]["message"]["content"][0]["text"] == "Echo: alpha beta "
    assert out["stopReason"] == "stop_sequence"
    assert out["usage"]["outputTokens"] == 3


def test_scenario_markers_are_removed_from_the_echo(client):
    out = client.converse(modelId=MODEL_ID, messages=user("[scenario:slow:0.01] hi there"))
    assert out["output"]["message"]["content"][0]["text"] == "Echo: hi there"


def test_converse_stream_decoded_by_botocore(client):
    text = "stream these five words"
    out = client.converse_stream(modelId=MODEL_ID, messages=user(text))
    assert out["ResponseMetadata"]["HTTPHeaders"]["content-type"] == (
        "application/vnd.amazon.eventstream"
    )
    events = list(out["stream"])
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart"
    assert events[0]["messageStart"]["role"] == "assistant"
    assert names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    deltas = [e["contentBlockDelta"] for e in events if "contentBlockDelta" in e]
    assert [d["delta"]["text"] for d in deltas] == ["Echo: ", "stream ", "these ", "five ", "words"]
    assert all(d["contentBlockIndex"] == 0 for d in deltas)
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"] == {
        "inputTokens": 4,
        "outputTokens": 5,
        "totalTokens": 9,
    }
    same = client.converse(modelId=MODEL_ID, messages=user(text))
    assert "".join(d["delta"]["text"] for d in deltas) == same["output"]["message"]["content"][0]["text"]


CACHE = {"cachePoint": {"type": "default"}}


def test_cache_points_write_then_read_in_converse_and_stream(client, emulator):
    requests.post(f"{emulator}/_emulator/reset", timeout=5).raise_for_status()
    system = [{"text": "You answer in four words."}, CACHE]  # 5 words before the point
    first = [{"role": "user", "content": [{"text": "the long document here"}, CACHE, {"text": "question one"}]}]
    # First time: the 9 words before the last point are written; 2 remain. The echo is 7.
    out = client.converse(modelId=CACHING_MODEL, system=system, messages=first)
    assert out["usage"] == {
        "inputTokens": 2, "outputTokens": 7, "totalTokens": 18,
        "cacheReadInputTokens": 0, "cacheWriteInputTokens": 9,
    }
    # The same prefix again, streamed: all 9 read.
    stream = client.converse_stream(modelId=CACHING_MODEL, system=system, messages=first)
    usage = list(stream["stream"])[-1]["metadata"]["usage"]
    assert usage == {
        "inputTokens": 2, "outputTokens": 7, "totalTokens": 18,
        "cacheReadInputTokens": 9, "cacheWriteInputTokens": 0,
    }
    # Another document after the same system prompt: the system's 5 read, the 4 new written.
    other = [{"role": "user", "content": [{"text": "a different document text"}, CACHE, {"text": "q"}]}]
    out = client.converse(modelId=CACHING_MODEL, system=system, messages=other)
    assert (out["usage"]["cacheReadInputTokens"], out["usage"]["cacheWriteInputTokens"]) == (5, 4)
    assert out["usage"]["inputTokens"] == 1
    # Another model does not share the cache.
    out = client.converse(modelId="amazon.nova-lite-v1:0", system=system, messages=first)
    assert out["usage"]["cacheWriteInputTokens"] == 9
    # A cache point among the tools caches no words (tools are not counted as input words).
    tools = {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {"type": "object"}}}}, CACHE]}
    out = client.converse(modelId=CACHING_MODEL, messages=user("hi there"), toolConfig=tools)
    assert out["usage"]["cacheWriteInputTokens"] == 0 and out["usage"]["inputTokens"] == 2
    # Without a cache point, no cache counters; the reset forgets every prefix.
    assert "cacheReadInputTokens" not in client.converse(modelId=CACHING_MODEL, messages=user("x"))["usage"]
    requests.post(f"{emulator}/_emulator/reset", timeout=5).raise_for_status()
    out = client.converse(modelId=CACHING_MODEL, system=system, messages=first)
    assert (out["usage"]["cacheReadInputTokens"], out["usage"]["cacheWriteInputTokens"]) == (0, 9)


def test_cache_scenario_forces_the_counts(client):
    out = client.converse(modelId=MODEL_ID, messages=user("[scenario:cache:1322:7] hi"))
    # inputTokens counts the marker as a word, as always.
    assert out["usage"] == {
        "inputTokens": 2, "outputTokens": 2, "totalTokens": 1333,
        "cacheReadInputTokens": 1322, "cacheWriteInputTokens": 7,
    }
    stream = client.converse_stream(modelId=MODEL_ID, messages=user("[scenario:cache:5] hi"))
    usage = list(stream["stream"])[-1]["metadata"]["usage"]
    assert (usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"], usage["totalTokens"]) == (5, 0, 9)


def test_converse_stream_max_tokens(client):
    out = client.converse_stream(
        modelId=MODEL_ID, messages=user("a b c d e f"), inferenceConfig={"maxTokens": 2}
    )
    events = list(out["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "Echo: a"
    assert events[-2]["messageStop"]["stopReason"] == "max_tokens"


def test_stream_frames_are_chunked_padded_and_valid(emulator):
    body = json.dumps({"messages": user("raw frames please")}).encode()
    response = signed_post(emulator, f"/model/{MODEL_PATH}/converse-stream", body)
    assert response.status_code == 200
    assert response.headers["transfer-encoding"] == "chunked"
    buffer = EventStreamBuffer()  # raises on any CRC or length error
    buffer.add_data(response.content)
    messages = list(buffer)
    assert len(messages) == 1 + 4 + 3
    for message in messages:
        assert message.headers[":message-type"] == "event"
        assert message.headers[":content-type"] == "application/json"
        assert "p" in json.loads(message.payload)


def test_stream_error_scenario(client):
    out = client.converse_stream(
        modelId=MODEL_ID, messages=user("[scenario:stream-error] one two three four")
    )
    seen = []
    with pytest.raises(EventStreamError) as info:
        for event in out["stream"]:
            seen.append(event)
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert "Emulated model stream error" in info.value.response["Error"]["Message"]
    assert [next(iter(e)) for e in seen] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]


def test_slow_scenario_delays_frames(client):
    started = time.monotonic()
    out = client.converse_stream(modelId=MODEL_ID, messages=user("[scenario:slow] a b"))
    events = list(out["stream"])
    elapsed = time.monotonic() - started
    assert len(events) == 1 + 3 + 3
    assert elapsed >= 0.3 * len(events) - 0.05


# --- errors ---------------------------------------------------------------------------------


def test_wrong_secret_is_403_invalid_signature(emulator):
    bad = make_client(emulator, secret="wrong")
    with pytest.raises(ClientError) as info:
        bad.converse(modelId=MODEL_ID, messages=user("hi"))
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "InvalidSignatureException"
    assert "signature we calculated does not match" in error["Error"]["Message"]


def test_unknown_access_key_is_403_unrecognized_client(emulator):
    bad = make_client(emulator, key="AKIAUNKNOWNKEY000000")
    with pytest.raises(ClientError) as info:
        bad.converse_stream(modelId=MODEL_ID, messages=user("hi"))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_throttle_scenario(client):
    for call in (client.converse, client.converse_stream):
        with pytest.raises(ClientError) as info:
            call(modelId=MODEL_ID, messages=user("[scenario:throttle] hi"))
        assert info.value.response["Error"]["Code"] == "ThrottlingException"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


ERRORS = [
    ("ValidationException", 400),
    ("AccessDeniedException", 403),
    ("ResourceNotFoundException", 404),
    ("ServiceQuotaExceededException", 400),
    ("ModelNotReadyException", 429),
    ("ModelTimeoutException", 408),
    ("ModelErrorException", 424),
    ("ServiceUnavailableException", 503),
    ("InternalServerException", 500),
]


@pytest.mark.parametrize("name,status", ERRORS)
def test_error_scenarios_use_the_service_model_status(client, name, status):
    with pytest.raises(ClientError) as info:
        client.converse(modelId=MODEL_ID, messages=user(f"[scenario:error:{name}] hi"))
    response = info.value.response
    assert response["Error"]["Code"] == name
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["Error"]["Message"] == f"Emulated {name} from the Bedrock emulator."
    header = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"]
    assert header == f"{name}:{emu.BEDROCK_ERROR_NAMESPACE}"


def test_error_scenario_with_explicit_status(client):
    with pytest.raises(ClientError) as info:
        client.converse_stream(
            modelId=MODEL_ID, messages=user("[scenario:error:ServiceQuotaExceededException:429] x")
        )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert info.value.response["Error"]["Code"] == "ServiceQuotaExceededException"


INVALID_BODIES = {
    "malformed json": b'{"messages": [',
    "unknown top-level key": {"messages": user("hi"), "max_tokens": 5},
    "modelId in body": {"messages": user("hi"), "modelId": MODEL_ID},
    "messages not a list": {"messages": "hi"},
    "content is a string": {"messages": [{"role": "user", "content": "hi"}]},
    "snake_case inference key": {"messages": user("hi"), "inferenceConfig": {"max_tokens": 5}},
    "float maxTokens": {"messages": user("hi"), "inferenceConfig": {"maxTokens": 5.0}},
    "no messages": {},
    "empty messages": {"messages": []},
    "system role in messages": {"messages": [{"role": "system", "content": [{"text": "x"}]}]},
    "first message from assistant": {
        "messages": [{"role": "assistant", "content": [{"text": "x"}]}] + user("hi")
    },
    "roles do not alternate": {"messages": user("a") + user("b")},
    "empty content": {"messages": [{"role": "user", "content": []}]},
    "blank text": {"messages": user("  ")},
    "blank system text": {"messages": user("hi"), "system": [{"text": " "}]},
    "empty system text": {"messages": user("hi"), "system": [{"text": ""}]},
    "system as a string": {"messages": user("hi"), "system": "be nice"},
    "two members in one content block": {
        "messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]
    },
    "temperature above 1": {"messages": user("hi"), "inferenceConfig": {"temperature": 1.5}},
    "topP below 0": {"messages": user("hi"), "inferenceConfig": {"topP": -0.1}},
    "maxTokens 0": {"messages": user("hi"), "inferenceConfig": {"maxTokens": 0}},
    "empty stop sequence": {"messages": user("hi"), "inferenceConfig": {"stopSequences": [""]}},
    "unknown service tier": {"messages": user("hi"), "serviceTier": {"type": "turbo"}},
    "unknown latency": {"messages": user("hi"), "performanceConfig": {"latency": "fastest"}},
    "guardrail without version": {"messages": user("hi"), "guardrailConfig": {"guardrailIdentifier": "abc"}},
    "guardrail id off pattern": {
        "messages": user("hi"), "guardrailConfig": {"guardrailIdentifier": "Not An Id", "guardrailVersion": "1"}
    },
    "guardrail version off pattern": {
        "messages": user("hi"), "guardrailConfig": {"guardrailIdentifier": "abc", "guardrailVersion": "v1"}
    },
    "unknown guardrail trace": {
        "messages": user("hi"),
        "guardrailConfig": {"guardrailIdentifier": "abc", "guardrailVersion": "1", "trace": "on"},
    },
}


@pytest.mark.parametrize("case", sorted(INVALID_BODIES))
@pytest.mark.parametrize("operation", ["converse", "converse-stream"])
def test_invalid_body_is_400_validation_exception(emulator, case, operation):
    body = INVALID_BODIES[case]
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = signed_post(emulator, f"/model/{MODEL_PATH}/{operation}", raw)
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-errortype"].split(":")[0] == "ValidationException"
    assert response.json()["message"]


def test_valid_raw_body_is_accepted(emulator):
    body = json.dumps({"messages": user("fine"), "inferenceConfig": {"maxTokens": 1}}).encode()
    response = signed_post(emulator, f"/model/{MODEL_PATH}/converse", body)
    assert response.status_code == 200, response.text
    assert response.json()["output"]["message"]["content"][0]["text"] == "Echo:"


def test_bearer_and_missing_authorization_are_403(emulator):
    url = f"{emulator}/model/{MODEL_PATH}/converse"
    body = json.dumps({"messages": user("hi")})
    bearer = requests.post(url, data=body, headers={"Authorization": "Bearer sk-local-demo"}, timeout=5)
    assert bearer.status_code == 403
    assert bearer.headers["x-amzn-errortype"].startswith("IncompleteSignatureException")
    missing = requests.post(url, data=body, timeout=5)
    assert missing.status_code == 403
    assert missing.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException")
    assert missing.json() == {"message": "Missing Authentication Token"}


def test_tampered_body_is_403(emulator):
    body = json.dumps({"messages": user("hi")}).encode()
    path = f"/model/{MODEL_PATH}/converse"
    request = AWSRequest(method="POST", url=emulator + path, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(emu.DEMO_ACCESS_KEY_ID, emu.DEMO_SECRET_ACCESS_KEY), "bedrock", REGION).add_auth(request)
    tampered = body.replace(b"hi", b"ho")
    response = requests.post(emulator + path, data=tampered, headers=dict(request.headers.items()), timeout=5)
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"].startswith("InvalidSignatureException")


def test_model_id_encoded_twice_is_rejected(emulator):
    # The path must carry the model id percent-encoded exactly once: %253A decodes to "%3A",
    # which is not a valid model id, as on real Bedrock.
    body = json.dumps({"messages": user("hi")}).encode()
    response = signed_post(emulator, "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%253A0/converse", body)
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"].startswith("ValidationException")
    assert "at 'modelId' failed to satisfy constraint" in response.json()["message"]
    assert recorded(emulator)[-1]["model_id"] == "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"


@pytest.mark.parametrize(
    "model_id",
    [
        MODEL_ID,
        "anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
    ],
)
def test_model_ids_round_trip_through_botocore(client, model_id, emulator):
    out = client.converse(modelId=model_id, messages=user("hi"))
    assert out["output"]["message"]["content"][0]["text"] == "Echo: hi"
    assert recorded(emulator)[-1]["model_id"] == model_id


def test_wrong_region_and_service_scope_are_403(emulator):
    body = json.dumps({"messages": user("hi")}).encode()
    url = f"{emulator}/model/{MODEL_PATH}/converse"
    for service, region in (("bedrock", "eu-west-1"), ("bedrock-runtime", REGION)):
        request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(emu.DEMO_ACCESS_KEY_ID, emu.DEMO_SECRET_ACCESS_KEY), service, region).add_auth(request)
        response = requests.post(url, data=body, headers=dict(request.headers.items()), timeout=5)
        assert response.status_code == 403, (service, region)
        assert response.headers["x-amzn-errortype"].startswith("InvalidSignatureException")


def test_clock_skew_is_rejected():
    auth = emu.AuthConfig(emu.DEMO_ACCESS_KEY_ID, emu.DEMO_SECRET_ACCESS_KEY, REGION)
    body = b'{"messages":[]}'
    request = AWSRequest(method="POST", url="http://h/model/m/converse", data=body)
    SigV4Auth(Credentials(auth.access_key_id, auth.secret_access_key), "bedrock", REGION).add_auth(request)
    headers = list(request.headers.items()) + [("Host", "h")]
    emu.verify_sigv4(auth, "POST", "/model/m/converse", headers, body)  # now: fine
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=16)
    with pytest.raises(emu.BedrockError) as info:
        emu.verify_sigv4(auth, "POST", "/model/m/converse", headers, body, now=later)
    assert info.value.status == 403
    assert "Signature expired" in info.value.message


def test_session_token_required_when_configured():
    server, url = start_server(session_token="session-token-123")
    try:
        ok = make_client(url, token="session-token-123").converse(modelId=MODEL_ID, messages=user("hi"))
        assert ok["output"]["message"]["content"][0]["text"] == "Echo: hi"
        for token in (None, "other-token"):
            with pytest.raises(ClientError) as info:
                make_client(url, token=token).converse(modelId=MODEL_ID, messages=user("hi"))
            assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    finally:
        server.shutdown()
        server.server_close()


def test_plain_errortype_option():
    server, url = start_server(plain_errortype=True)
    try:
        response = requests.post(f"{url}/model/x/converse", data="{}", timeout=5)
        assert response.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    finally:
        server.shutdown()
        server.server_close()


def test_unknown_paths_are_404(emulator):
    for method, path in (("POST", "/model/x/invoke-with-response-stream"), ("GET", f"/model/{MODEL_PATH}/converse"), ("POST", "/v1/chat/completions")):
        response = requests.request(method, emulator + path, timeout=5)
        assert response.status_code == 404
        assert response.headers["x-amzn-errortype"].startswith("UnknownOperationException")


# --- inspection and encoding ----------------------------------------------------------------


def test_inspection_endpoints(emulator, client):
    assert requests.get(f"{emulator}/_emulator/health", timeout=5).status_code == 200
    assert requests.post(f"{emulator}/_emulator/reset", timeout=5).status_code == 200
    assert recorded(emulator) == []
    client.converse(
        modelId=MODEL_ID, messages=user("inspect me"), inferenceConfig={"maxTokens": 10}
    )
    [entry] = recorded(emulator)
    assert entry["method"] == "POST"
    assert entry["path"] == f"/model/{MODEL_PATH}/converse"
    assert entry["model_id"] == MODEL_ID
    assert entry["operation"] == "Converse"
    assert entry["status"] == 200
    assert entry["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert entry["body"] == {"messages": user("inspect me"), "inferenceConfig": {"maxTokens": 10}}
    for _ in range(60):
        requests.post(f"{emulator}/model/x/nope", timeout=5)
    assert len(recorded(emulator)) == emu.REQUEST_LOG_SIZE


def _reencoded(data: bytes) -> bytes:
    """Every frame parsed by botocore (CRCs checked), re-encoded by the emulator."""
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return b"".join(emu.encode_frame(list(message.headers.items()), message.payload) for message in buffer)


def test_frame_encoder_matches_the_rust_encoder_bytes():
    """botocore parses our Rust-encoded fixture (25 frames), and the emulator's encoder writes
    the same bytes back: two encoders and botocore's decoder agree."""
    assert FIXTURE_STREAM.is_file(), f"fixture missing: {FIXTURE_STREAM}"
    data = FIXTURE_STREAM.read_bytes()
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    assert len(list(buffer)) == 25
    assert _reencoded(data) == data


def test_deterministic_rules_unit():
    body = {
        "system": [{"text": "sys words here"}],
        "messages": user("[scenario:throttle]  x   y"),
        "inferenceConfig": {"stopSequences": ["y"]},
    }
    result = emu.answer(body)
    assert result.text == "Echo: x "
    assert result.stop_reason == "stop_sequence"
    assert result.input_tokens == 3 + 3
    assert result.output_tokens == 2
    assert result.deltas() == ["Echo: ", "x "]
    assert emu.answer({"messages": user("[scenario:slow]")}).text == "Echo:"


def test_keep_alive_serves_several_requests_per_connection(emulator):
    host, port = emulator.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    for _ in range(3):
        connection.request("GET", "/_emulator/health")
        response = connection.getresponse()
        assert response.status == 200
        response.read()
    connection.close()


def _raw_chunks(url: str, path: str, body: bytes) -> list[bytes]:
    """POSTs a signed request on a plain socket and returns the HTTP chunks as sent."""
    import socket

    request = AWSRequest(method="POST", url=url + path, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(emu.DEMO_ACCESS_KEY_ID, emu.DEMO_SECRET_ACCESS_KEY), "bedrock", REGION).add_auth(request)
    host, port = url.removeprefix("http://").split(":")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k.lower() != "host")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        stream = sock.makefile("rb")
        while stream.readline() not in (b"\r\n", b""):
            pass
        chunks = []
        while True:
            size = int(stream.readline().strip(), 16)
            if size == 0:
                return chunks
            chunks.append(stream.read(size))
            stream.readline()


@pytest.mark.parametrize("marker,check", [
    ("[scenario:split:5]", lambda chunks: max(map(len, chunks)) <= 5 and len(chunks) > 20),
    ("[scenario:split]", lambda chunks: max(map(len, chunks)) <= emu.DEFAULT_SPLIT_SIZE),
    ("[scenario:coalesce]", lambda chunks: len(chunks) == 1),
    ("", lambda chunks: len(chunks) == 1 + 4 + 3),
])
def test_split_and_coalesce_scenarios(emulator, client, marker, check):
    body = json.dumps({"messages": user(f"{marker} cut me up")}).encode()
    chunks = _raw_chunks(emulator, f"/model/{MODEL_PATH}/converse-stream", body)
    assert check(chunks), [len(c) for c in chunks]
    buffer = EventStreamBuffer()
    buffer.add_data(b"".join(chunks))
    names = [m.headers[":event-type"] for m in buffer]
    assert names == ["messageStart"] + ["contentBlockDelta"] * 4 + ["contentBlockStop", "messageStop", "metadata"]
    events = list(client.converse_stream(modelId=MODEL_ID, messages=user(f"{marker} cut me up"))["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "Echo: cut me up"


@pytest.mark.parametrize("marker", ["[scenario:corrupt]", "[scenario:corrupt-prelude]"])
def test_corrupt_frame_scenarios(emulator, marker):
    from botocore.eventstream import ChecksumMismatch

    body = json.dumps({"messages": user(f"{marker} one two three")}).encode()
    raw = b"".join(_raw_chunks(emulator, f"/model/{MODEL_PATH}/converse-stream", body))
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    decoded = []
    with pytest.raises(ChecksumMismatch):
        for message in buffer:
            decoded.append(message.headers[":event-type"])
    assert decoded == ["messageStart", "contentBlockDelta", "contentBlockDelta"]


def test_truncate_scenario(emulator):
    body = json.dumps({"messages": user("[scenario:truncate] one two three")}).encode()
    raw = b"".join(_raw_chunks(emulator, f"/model/{MODEL_PATH}/converse-stream", body))
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    assert [m.headers[":event-type"] for m in buffer] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    last_frame_end = len(raw) - len(buffer._data)
    assert 0 < len(raw) - last_frame_end < 100, "a partial frame is left over"


def test_bad_json_and_raw_status_scenarios(emulator):
    body = json.dumps({"messages": user("[scenario:bad-json] x")}).encode()
    response = signed_post(emulator, f"/model/{MODEL_PATH}/converse", body)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    body = json.dumps({"messages": user("[scenario:raw-status:502] x")}).encode()
    response = signed_post(emulator, f"/model/{MODEL_PATH}/converse-stream", body)
    assert response.status_code == 502
    assert "x-amzn-errortype" not in response.headers
    assert response.headers["content-type"] == "text/html"


def test_stop_reason_override(client):
    out = client.converse(modelId=MODEL_ID, messages=user("[scenario:stop-reason:content_filtered] x"))
    assert out["stopReason"] == "content_filtered"
    events = list(
        client.converse_stream(modelId=MODEL_ID, messages=user("[scenario:stop-reason:guardrail_intervened] x"))["stream"]
    )
    assert events[-2]["messageStop"]["stopReason"] == "guardrail_intervened"


def test_service_tiers_and_latency_are_echoed(client):
    out = client.converse(modelId=MODEL_ID, messages=user("hi"), serviceTier={"type": "flex"})
    assert out["serviceTier"] == {"type": "flex"}
    out = client.converse(modelId=MODEL_ID, messages=user("hi"))
    assert out["serviceTier"] == {"type": "default"}
    out = client.converse(modelId=MODEL_ID, messages=user("hi"), performanceConfig={"latency": "optimized"})
    assert out["performanceConfig"] == {"latency": "optimized"}
    events = list(
        client.converse_stream(modelId=MODEL_ID, messages=user("hi"), serviceTier={"type": "reserved"})["stream"]
    )
    assert events[-1]["metadata"]["serviceTier"] == {"type": "reserved"}


GUARDRAIL = {"guardrailIdentifier": "emu1guard", "guardrailVersion": "DRAFT", "trace": "enabled"}


def test_guardrail_scenario_intervenes_with_a_trace(client):
    out = client.converse(modelId=MODEL_ID, messages=user("[scenario:guardrail] bad"), guardrailConfig=GUARDRAIL)
    assert out["stopReason"] == "guardrail_intervened"
    assert out["output"]["message"]["content"] == [{"text": emu.answers.GUARDRAIL_BLOCKED}]
    topics = out["trace"]["guardrail"]["inputAssessment"]["emu1guard"]["topicPolicy"]["topics"]
    assert topics[0]["action"] == "BLOCKED"
    stream_config = dict(GUARDRAIL, streamProcessingMode="sync")
    events = list(
        client.converse_stream(
            modelId=MODEL_ID, messages=user("[scenario:guardrail] bad"), guardrailConfig=stream_config
        )["stream"]
    )
    assert events[-2]["messageStop"]["stopReason"] == "guardrail_intervened"
    assert events[-1]["metadata"]["trace"]["guardrail"]["actionReason"] == "Guardrail blocked."
    # Traced without intervening; without a trace no trace; without a guardrail nothing.
    out = client.converse(modelId=MODEL_ID, messages=user("fine"), guardrailConfig=GUARDRAIL)
    assert (out["stopReason"], out["trace"]["guardrail"]["actionReason"]) == ("end_turn", "No action.")
    out = client.converse(
        modelId=MODEL_ID, messages=user("[scenario:guardrail] x"),
        guardrailConfig={"guardrailIdentifier": "emu1guard", "guardrailVersion": "1"},
    )
    assert out["stopReason"] == "guardrail_intervened" and "trace" not in out
    out = client.converse(modelId=MODEL_ID, messages=user("[scenario:guardrail] x"))
    assert out["stopReason"] == "end_turn"


def test_guard_content_blocks_are_what_the_guardrail_assesses(client):
    def guarded(text):
        return {"guardContent": {"text": {"text": text, "qualifiers": ["guard_content"]}}}

    # The marker outside the guarded block: not assessed, so no intervention; echoed all the same.
    messages = [{"role": "user", "content": [{"text": "[scenario:guardrail] loose"}, guarded("checked")]}]
    out = client.converse(modelId=MODEL_ID, messages=messages, guardrailConfig=GUARDRAIL)
    assert out["stopReason"] == "end_turn"
    assert out["output"]["message"]["content"][0]["text"] == "Echo: loose checked"
    assert out["usage"]["inputTokens"] == 3
    messages = [{"role": "user", "content": [{"text": "loose"}, guarded("[scenario:guardrail] checked")]}]
    out = client.converse(modelId=MODEL_ID, messages=messages, guardrailConfig=GUARDRAIL)
    assert out["stopReason"] == "guardrail_intervened"
    # System text is assessed only inside a guardContent block.
    plain = [{"text": "[scenario:guardrail] rules"}]
    out = client.converse(modelId=MODEL_ID, system=plain, messages=user("fine"), guardrailConfig=GUARDRAIL)
    assert out["stopReason"] == "end_turn"
    system = [guarded("[scenario:guardrail] rules")]
    out = client.converse(modelId=MODEL_ID, system=system, messages=user("fine"), guardrailConfig=GUARDRAIL)
    assert out["stopReason"] == "guardrail_intervened"
    assert out["usage"]["inputTokens"] == 3
    out = client.converse(modelId=MODEL_ID, system=system, messages=user("fine"))
    assert out["stopReason"] == "end_turn"


# --- tools, images, reasoning, structured output ----------------------------------------------

WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "inputSchema": {"json": {"type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}}},
    }
}
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def test_tool_call_and_round_trip(client):
    out = client.converse(
        modelId=MODEL_ID, messages=user("weather? [scenario:tool]"), toolConfig={"tools": [WEATHER]}
    )
    content = out["output"]["message"]["content"]
    assert content[0] == {"text": "Echo: weather?"}
    use = content[1]["toolUse"]
    assert (use["name"], use["input"]) == ("get_weather", {"city": "city", "unit": "c"})
    assert out["stopReason"] == "tool_use"
    messages = user("weather? [scenario:tool]") + [
        {"role": "assistant", "content": content},
        {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": {"t": 21}}]}}]},
    ]
    out = client.converse(modelId=MODEL_ID, messages=messages, toolConfig={"tools": [WEATHER]})
    assert out["output"]["message"]["content"] == [{"text": f"Tool results: {use['toolUseId']}={{\"t\":21}}"}]
    assert out["stopReason"] == "end_turn"


def test_parallel_tools_stream(client):
    out = client.converse_stream(
        modelId=MODEL_ID,
        messages=user("both [scenario:parallel-tools]"),
        toolConfig={"tools": [WEATHER], "toolChoice": {"any": {}}},
    )
    events = list(out["stream"])
    starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert [(s["contentBlockIndex"], s["start"]["toolUse"]["name"]) for s in starts] == [
        (0, "get_weather"), (1, "get_weather")
    ]
    inputs = {}
    for e in events:
        if "contentBlockDelta" in e:
            d = e["contentBlockDelta"]
            inputs[d["contentBlockIndex"]] = inputs.get(d["contentBlockIndex"], "") + d["delta"]["toolUse"]["input"]
    assert [json.loads(inputs[i])["city"] for i in (0, 1)] == ["city", "city-2"]
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({"messages": [{"role": "user", "content": [{"text": "x"}]},
                       {"role": "assistant", "content": [{"toolUse": {"toolUseId": "a", "name": "f", "input": {}}}]},
                       {"role": "user", "content": [{"toolResult": {"toolUseId": "a", "content": [{"text": "r"}]}}]}]},
         "toolConfig field must be defined"),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]},
                       {"role": "assistant", "content": [{"toolUse": {"toolUseId": "a", "name": "get_weather", "input": {}}}]},
                       {"role": "user", "content": [{"text": "no result"}]}],
          "toolConfig": {"tools": [WEATHER]}},
         "without toolResult"),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}],
          "toolConfig": {"tools": [WEATHER], "toolChoice": {"tool": {"name": "nope"}}}},
         "not in toolConfig.tools"),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}],
          "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}},
          "inferenceConfig": {"maxTokens": 1000}},
         "greater than"),
    ],
)
def test_tool_and_thinking_rules(emulator, body, fragment):
    response = signed_post(emulator, f"/model/{MODEL_PATH}/converse", json.dumps(body).encode())
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_images_reasoning_and_structured_output(client):
    import base64 as b64

    out = client.converse(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [
            {"text": "what is it"}, {"image": {"format": "png", "source": {"bytes": b64.b64decode(PNG_1X1)}}}]}],
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    content = out["output"]["message"]["content"]
    assert content[0]["reasoningContent"]["reasoningText"]["text"] == "Reasoning about: what is it"
    assert content[1] == {"text": "Echo: what is it [1 image]"}
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer", "minimum": 3}}}
    out = client.converse(
        modelId=MODEL_ID,
        messages=user("json please"),
        outputConfig={"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "x"}}}},
    )
    assert json.loads(out["output"]["message"]["content"][0]["text"]) == {"name": "name", "n": 3}


THINKING = {"thinking": {"type": "enabled", "budget_tokens": 1024}}


def _stream_events(client, **kwargs):
    return list(client.converse_stream(modelId=MODEL_ID, **kwargs)["stream"])


def test_reasoning_is_signed_and_the_signature_is_checked_when_handed_back(client, emulator):
    """Three turns with thinking and a tool: the signed reasoning (and redacted bytes) handed
    back unchanged is accepted; changed, missing or left out, Bedrock's (Anthropic's) 400."""
    tools = {"tools": [WEATHER]}
    first = client.converse(
        modelId=MODEL_ID, messages=user("weather? [scenario:tool] [scenario:redacted-thinking]"),
        toolConfig=tools, additionalModelRequestFields=THINKING, inferenceConfig={"maxTokens": 2048},
    )
    content = first["output"]["message"]["content"]
    text = content[0]["reasoningContent"]["reasoningText"]
    assert text["text"] == "Reasoning about: weather?"
    assert text["signature"] == emu.answers.sign("Reasoning about: weather?")
    assert isinstance(content[1]["reasoningContent"]["redactedContent"], bytes)
    use = next(b["toolUse"] for b in content if "toolUse" in b)

    def turn(assistant_content):
        messages = user("weather? [scenario:tool]") + [
            {"role": "assistant", "content": assistant_content},
            {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "sunny"}]}}]},
        ]
        body = {"messages": messages, "toolConfig": tools, "additionalModelRequestFields": THINKING,
                "inferenceConfig": {"maxTokens": 2048}}
        # Raw JSON: the redacted bytes travel as base64, as the filter sends them.
        return signed_post(emulator, f"/model/{MODEL_PATH}/converse",
                           json.dumps(body, default=lambda b: base64.b64encode(b).decode()).encode())

    ok = turn(content)
    assert ok.status_code == 200, ok.text
    assert ok.json()["output"]["message"]["content"][1]["text"].startswith("Tool results: ")
    tampered = json.loads(json.dumps(content, default=lambda b: base64.b64encode(b).decode()))
    tampered[0]["reasoningContent"]["reasoningText"]["text"] += " (edited)"
    unsigned = json.loads(json.dumps(tampered))
    del unsigned[0]["reasoningContent"]["reasoningText"]["signature"]
    forged = json.loads(json.dumps(content, default=lambda b: base64.b64encode(b).decode()))
    forged[1]["reasoningContent"]["redactedContent"] = base64.b64encode(b"forged").decode()
    for bad, fragment in [
        (tampered, "Invalid `signature` in `thinking` block"),
        (unsigned, "thinking.signature: Field required"),
        (forged, "Invalid `data` in `redacted_thinking` block"),
        ([b for b in content if "toolUse" in b], "Expected `thinking` or `redacted_thinking`, but found `tool_use`"),
    ]:
        r = turn(bad)
        assert r.status_code == 400, r.text
        assert r.headers["x-amzn-ErrorType"].startswith("ValidationException")
        assert fragment in r.json()["message"], r.json()


def test_reasoning_stream_sends_signature_and_redacted_deltas(client):
    events = _stream_events(client, messages=user("go [scenario:redacted-thinking]"),
                            additionalModelRequestFields=THINKING, inferenceConfig={"maxTokens": 2048})
    reasoning = [e["contentBlockDelta"] for e in events
                 if "contentBlockDelta" in e and "reasoningContent" in e["contentBlockDelta"]["delta"]]
    text = "".join(d["delta"]["reasoningContent"].get("text", "") for d in reasoning)
    assert text == "Reasoning about: go"
    assert reasoning[-2]["delta"]["reasoningContent"] == {"signature": emu.answers.sign(text)}
    assert reasoning[-1]["contentBlockIndex"] == 1
    assert emu.answers.redacted_is_ours(reasoning[-1]["delta"]["reasoningContent"]["redactedContent"])


def test_server_tool_scenario_unary_and_stream(client):
    out = client.converse(modelId=MODEL_ID, messages=user("six times seven [scenario:server-tool]"))
    content = out["output"]["message"]["content"]
    assert content[0]["toolUse"] == {"toolUseId": "tooluse_1_server", "name": "nova_code_interpreter",
                                     "type": "server_tool_use", "input": {"snippet": "six times seven"}}
    assert content[1]["toolResult"]["type"] == "nova_code_interpreter_result"
    assert content[1]["toolResult"]["content"][0]["json"]["stdOut"] == "3"
    assert content[2] == {"text": "Echo: six times seven"}
    assert out["stopReason"] == "end_turn"
    events = _stream_events(client, messages=user("six times seven [scenario:server-tool]"))
    starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert starts[0]["start"]["toolUse"]["type"] == "server_tool_use"
    assert starts[1]["start"]["toolResult"]["toolUseId"] == "tooluse_1_server"
    result = next(e["contentBlockDelta"]["delta"]["toolResult"] for e in events
                  if "contentBlockDelta" in e and "toolResult" in e["contentBlockDelta"]["delta"])
    assert result[0]["json"]["stdOut"] == "3"
    text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
    assert text == "Echo: six times seven"
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"


# -- the package: its command line, its scenario table, its README ------------------------------

EMULATOR_DIR = Path(__file__).resolve().parent / "bedrock_emulator"
README = Path(__file__).resolve().parent / "README.md"


@pytest.mark.parametrize("how", ["directory", "module"])
def test_command_line_prints_the_listening_line_first(how):
    """The callers (e2e and deploy fixtures, run.sh, soak, the Dockerfile) run the package
    directory; `python -m bedrock_emulator` works too. Both print the URL as the first line."""
    args = [str(EMULATOR_DIR)] if how == "directory" else ["-m", "bedrock_emulator"]
    proc = subprocess.Popen(
        [sys.executable, *args, "--host", "127.0.0.1", "--port", "0", "--quiet"],
        cwd=EMULATOR_DIR.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("bedrock-emulator listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1]
        assert requests.get(f"{url}/_emulator/health", timeout=5).json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_scenario_row_is_documented_and_parses():
    for kind, row in emu.SCENARIOS.items():
        assert row.doc, f"{kind}: its parse function needs a docstring"
        assert all(s.startswith(f"[scenario:{kind}") for s in row.syntax.split()), (kind, row.syntax)
    scenario = emu.parse_scenario("[scenario:split:5] [scenario:tool:get_weather] [scenario:unknown] x")
    assert (scenario.split, scenario.tool, scenario.throttle) == (5, "get_weather", False)


def test_readme_scenario_table_matches_the_code():
    from bedrock_emulator.scenarios import markdown_table

    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- scenario table")
    start = text.index("\n", start) + 1
    end = text.index("<!-- end of scenario table -->")
    assert text[start:end] == markdown_table(), (
        "tests/emulator/README.md's scenario table is stale: replace it with the output of "
        "`python tests/emulator/bedrock_emulator --scenarios`"
    )


# --------------------------------------------------------------------------------------------
# prompt-cache points: Bedrock's rules, with its messages
# --------------------------------------------------------------------------------------------

CACHING_MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
CP = {"cachePoint": {"type": "default"}}
CP_1H = {"cachePoint": {"type": "default", "ttl": "1h"}}
TOOL = {"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}


def test_cache_points_where_bedrock_takes_them(client):
    out = client.converse(
        modelId=CACHING_MODEL,
        system=[{"text": "sys"}, CP],
        messages=[{"role": "user", "content": [{"text": "doc"}, CP, {"text": "q"}]}],
        toolConfig={"tools": [TOOL, CP]},
    )
    assert out["stopReason"] == "end_turn"
    out = client.converse(
        modelId="global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        system=[{"text": "sys"}, CP_1H],
        messages=[{"role": "user", "content": [{"text": "doc"}, CP_1H, {"text": "q"}, CP]}],
    )
    assert out["stopReason"] == "end_turn"
    out = client.converse(
        modelId="amazon.nova-pro-v1:0",
        system=[{"text": "sys"}, CP],
        messages=[{"role": "user", "content": [{"text": "q"}]}],
    )
    assert out["stopReason"] == "end_turn"


@pytest.mark.parametrize(
    "model, body, fragment",
    [
        (MODEL_ID, {"system": [{"text": "s"}, CP], "messages": user("q")}, "unsupported model"),
        ("us.meta.llama3-3-70b-instruct-v1:0", {"messages": [{"role": "user", "content": [{"text": "q"}, CP]}]}, "unsupported model"),
        ("amazon.nova-pro-v1:0", {"messages": user("q"), "toolConfig": {"tools": [TOOL, CP]}}, "unsupported model"),
        (CACHING_MODEL, {"messages": [{"role": "user", "content": [CP, {"text": "q"}]}]}, "nothing available to cache"),
        (CACHING_MODEL, {"system": [CP, {"text": "s"}], "messages": user("q")}, "nothing available to cache"),
        (
            CACHING_MODEL,
            {"system": [{"text": "a"}, CP, {"text": "b"}, CP, {"text": "c"}, CP],
             "messages": [{"role": "user", "content": [{"text": "q"}, CP, {"text": "r"}, CP]}]},
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        (CACHING_MODEL, {"system": [{"text": "s"}, CP_1H], "messages": user("q")}, "unsupported model"),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            {"system": [{"text": "s"}, CP], "messages": [{"role": "user", "content": [{"text": "q"}, CP_1H]}]},
            "ttl='1h' cache_control block must not come after a ttl='5m'",
        ),
    ],
)
def test_cache_point_rules(emulator, model, body, fragment):
    path = model.replace(":", "%3A")
    response = signed_post(emulator, f"/model/{path}/converse", json.dumps(body).encode())
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-errortype"].startswith("ValidationException")
    assert fragment in response.json()["message"]


# -- documents, S3 sources, tool-result images, citations ----------------------------------------

NOVA = "amazon.nova-pro-v1:0"
CLAUDE_35 = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"


def doc(name="notes", fmt="txt", data=b"Grass is green.\nSky is blue.", citations=False, **source):
    block = {"format": fmt, "name": name, "source": source or {"bytes": data}}
    if citations:
        block["citations"] = {"enabled": True}
    return {"document": block}


def test_documents_and_s3_sources_are_echoed_and_counted(client):
    out = client.converse(
        modelId=NOVA,
        messages=[{"role": "user", "content": [
            {"text": "read"}, doc(), doc("Report (v2) [final]", "pdf", b"%PDF-1.4"),
            {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://bucket-a/x.png", "bucketOwner": "123456789012"}}}},
            doc("contract", "pdf", s3Location={"uri": "s3://bucket-a/c.pdf"})]}],
    )
    assert out["output"]["message"]["content"] == [{"text": "Echo: read [1 image] [3 documents]"}]


def test_tool_result_images_are_echoed(client):
    import base64 as b64

    messages = user("shot [scenario:tool]")
    first = client.converse(modelId=CLAUDE_35, messages=messages, toolConfig={"tools": [WEATHER]})
    use = first["output"]["message"]["content"][1]["toolUse"]
    image = {"image": {"format": "png", "source": {"bytes": b64.b64decode(PNG_1X1)}}}
    messages += [
        {"role": "assistant", "content": first["output"]["message"]["content"]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "here"}, image]}}]},
    ]
    out = client.converse(modelId=CLAUDE_35, messages=messages, toolConfig={"tools": [WEATHER]})
    assert out["output"]["message"]["content"] == [{"text": f"Tool results: {use['toolUseId']}=here [image]"}]


def test_citations_scenario_unary_and_stream(client):
    messages = [{"role": "user", "content": [{"text": "color? [scenario:citations]"}, doc(citations=True)]}]
    want = {"title": "notes", "sourceContent": [{"text": "Grass is green."}],
            "location": {"documentChar": {"documentIndex": 0, "start": 0, "end": 15}}}
    out = client.converse(modelId=CLAUDE_35, messages=messages)
    assert out["output"]["message"]["content"] == [
        {"citationsContent": {"content": [{"text": "Echo: color? [1 document]"}], "citations": [want]}}
    ]
    events = list(client.converse_stream(modelId=CLAUDE_35, messages=messages)["stream"])
    deltas = [e["contentBlockDelta"] for e in events if "contentBlockDelta" in e]
    assert {d["contentBlockIndex"] for d in deltas} == {0}
    assert deltas[0]["delta"] == {"citation": want}
    assert "".join(d["delta"].get("text", "") for d in deltas) == "Echo: color? [1 document]"
    # Without a document asking for citations the marker is ignored.
    plain = [{"role": "user", "content": [{"text": "color? [scenario:citations]"}, doc()]}]
    assert client.converse(modelId=CLAUDE_35, messages=plain)["output"]["message"]["content"] == [
        {"text": "Echo: color? [1 document]"}
    ]


def _tool_turns(result_content):
    return [
        {"role": "user", "content": [{"text": "x"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "a", "name": "get_weather", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "a", "content": result_content}}]},
    ]


PNG_IN_RESULT = [{"image": {"format": "png", "source": {"bytes": PNG_1X1}}}]


def rdoc(*args, **kwargs):
    """`doc` for a raw JSON body: inline bytes as base64 text."""
    import base64 as b64

    block = doc(*args, **kwargs)
    source = block["document"]["source"]
    if "bytes" in source:
        source["bytes"] = b64.b64encode(source["bytes"]).decode()
    return block


@pytest.mark.parametrize(
    "model, body, fragment",
    [
        (CLAUDE_35, {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc("a.pdf")]}]}, "document name can only contain"),
        (CLAUDE_35, {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc("a  b")]}]}, "no more than one in a row"),
        (CLAUDE_35, {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc("n" * 201)]}]}, "document name"),
        (CLAUDE_35, {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc("a"), rdoc("A")]}]}, "must be unique"),
        (CLAUDE_35, {"messages": [{"role": "user", "content": [rdoc()]}]}, "must also include a text"),
        (CLAUDE_35, {"messages": [{"role": "user", "content": [{"text": "x"}] + [rdoc(f"d{i}") for i in range(6)]}]}, "up to 5 documents"),
        (CLAUDE_35, {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc(fmt="exe")]}]}, "DocumentFormat"),
        (CLAUDE_35, {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc(s3Location={"uri": "s3://bucket-a/x.txt"})]}]}, "S3 locations"),
        (NOVA, {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc(s3Location={"uri": "s3://Bucket_A/x.txt"})]}]}, "S3Uri"),
        (NOVA, {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc(s3Location={"uri": "s3://bucket-a/x.txt", "bucketOwner": "12"})]}]}, "12-digit"),
        (NOVA, {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc(citations=True)]}]}, "support citations"),
        ("amazon.nova-micro-v1:0", {"messages": [{"role": "user", "content": [{"text": "x"}, rdoc()]}]}, "support documents"),
        ("us.meta.llama3-3-70b-instruct-v1:0", {"messages": _tool_turns(PNG_IN_RESULT), "toolConfig": {"tools": [WEATHER]}}, "images in tool results"),
        (CLAUDE_35, {"messages": [{"role": "user", "content": [{"text": "x"}]}, {"role": "assistant", "content": [rdoc()]}]}, "only allowed in user messages"),
    ],
)
def test_document_and_s3_rules(emulator, model, body, fragment):
    path = model.replace(":", "%3A")
    response = signed_post(emulator, f"/model/{path}/converse", json.dumps(body).encode())
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-errortype"].startswith("ValidationException")
    assert fragment in response.json()["message"]
