"""`signing: envoy` (envoy/envoy-native-signing.yaml): the filter prepares the Bedrock request
and Envoy's own `aws_request_signing` filter, after it in the chain, signs it. The emulator
recomputes every signature with botocore, so an answer at all proves Envoy's SigV4 is right;
the signed-header list shows whose signature it is (the filter never signs
`x-amz-content-sha256`, Envoy always does)."""

from __future__ import annotations

import hashlib

import openai
import pytest
import yaml

import openai_schema
from e2e_support import (
    DEMO_ACCESS_KEY_ID,
    DEMO_SECRET_ACCESS_KEY,
    REGION,
    REPO,
    SONNET,
    Api,
    demo_plugin_config,
    validate_exchange,
)

NATIVE_YAML = REPO / "envoy" / "envoy-native-signing.yaml"


def user(text):
    return [{"role": "user", "content": text}]


def signed_headers(received: dict) -> list[str]:
    return received["headers"]["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")


def assert_signed_by_envoy(received: dict) -> None:
    """Accepted by the emulator's botocore check, with Envoy's header set."""
    headers = received["headers"]
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={DEMO_ACCESS_KEY_ID}/")
    assert f"/{REGION}/bedrock/aws4_request" in headers["authorization"]
    # Envoy hashed the body the filter wrote (use_unsigned_payload: false) and signed the hash;
    # the emulator refuses a hash that is not the received body's.
    assert len(headers["x-amz-content-sha256"]) == 64
    assert headers["x-amz-content-sha256"] != hashlib.sha256(b"UNSIGNED-PAYLOAD").hexdigest()
    assert {"host", "x-amz-date", "x-amz-content-sha256", "content-type"} <= set(signed_headers(received))


@pytest.fixture(scope="module")
def native(start_gateway):
    return start_gateway("native-signing", envoy_yaml=NATIVE_YAML)


@pytest.fixture
def napi(native, emulator):
    emulator.reset()
    api = Api(native)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


def test_shipped_config_asks_for_envoy_signing():
    config = yaml.safe_load(NATIVE_YAML.read_text())
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    names = [f["name"] for f in hcm["http_filters"]]
    # The signer comes after the Wasm filter (it signs what the filter wrote), before the router.
    assert names == ["envoy.filters.http.wasm", "envoy.filters.http.aws_request_signing", "envoy.filters.http.router"]
    signer = hcm["http_filters"][1]["typed_config"]
    assert signer["service_name"] == "bedrock"
    assert signer["use_unsigned_payload"] is False
    wasm = hcm["http_filters"][0]["typed_config"]["config"]
    plugin = yaml.safe_load(wasm["configuration"]["value"])
    assert plugin["signing"] == "envoy"
    assert signer["region"] == plugin["region"]


def test_chat_unary_signed_by_envoy(napi, emulator):
    completion = napi.client.chat.completions.create(model="gpt-4o", messages=user("signed natively"), max_tokens=100)
    assert completion.choices[0].message.content == "Echo: signed natively"
    received = emulator.last()
    assert received["path"] == "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"
    assert received["headers"]["host"] == f"bedrock-runtime.{REGION}.amazonaws.com"
    assert received["status"] == 200
    assert_signed_by_envoy(received)
    assert received["body"]["messages"] == [{"role": "user", "content": [{"text": "signed natively"}]}]


def test_chat_stream_signed_by_envoy(napi, emulator):
    stream = napi.client.chat.completions.create(
        model="gpt-4o", messages=user("stream natively"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: stream natively"
    assert chunks[-1].usage is not None
    received = emulator.last()
    assert received["path"].endswith("/converse-stream")
    assert received["headers"]["accept"] == "application/vnd.amazon.eventstream"
    assert_signed_by_envoy(received)


def test_legacy_completion_signed_by_envoy(napi, emulator):
    completion = napi.client.completions.create(model="gpt-4o", prompt="complete natively", max_tokens=50)
    assert completion.choices[0].text == "Echo: complete natively"
    assert_signed_by_envoy(emulator.last())


def test_embeddings_side_calls_are_still_signed_by_the_filter(napi, emulator):
    """InvokeModel side calls (dispatch_http_call) skip the HTTP filter chain: the filter signs
    them itself, with the AWS_* environment, and its signature has no x-amz-content-sha256."""
    r = napi.client.embeddings.create(model="text-embedding-3-small", input="hello world", encoding_format="float")
    assert len(r.data) == 1 and r.data[0].embedding
    received = emulator.last()
    assert received["path"].endswith("/invoke") and received["status"] == 200
    assert "x-amz-content-sha256" not in signed_headers(received)


def test_bedrock_error_passes_through_envoy_signing(napi, emulator):
    """A Bedrock refusal of a properly signed request is shaped by the filter as usual."""
    with pytest.raises(openai.RateLimitError) as info:
        napi.client.with_options(max_retries=0).chat.completions.create(
            model=SONNET, messages=user("[scenario:throttle] hi"), stream=True)
    body = napi.last().json()
    openai_schema.validate_error(body)
    assert info.value.status_code == 429
    assert body["error"]["code"] == "ThrottlingException"
    received = emulator.last()
    assert (received["status"], received["error"]) == (429, "ThrottlingException")
    assert_signed_by_envoy(received)


def test_wrong_secret_in_envoy_is_403(start_gateway, make_api, emulator):
    """Envoy signs with its own environment: a wrong secret there is Bedrock's 403, in OpenAI's
    shape (the filter's configuration does not hold the secret)."""
    gateway = start_gateway("native-wrong-secret", envoy_yaml=NATIVE_YAML, env={"AWS_SECRET_ACCESS_KEY": "wrong"})
    api = make_api(gateway)
    for stream in (False, True):
        with pytest.raises(openai.PermissionDeniedError) as info:
            api.client.chat.completions.create(model=SONNET, messages=user("hi"), stream=stream)
        assert info.value.status_code == 403
        error = api.last().json()["error"]
        assert error["code"] == "InvalidSignatureException"
        assert emulator.last()["error"] == "InvalidSignatureException"


def test_without_envoys_signer_nothing_is_signed(start_gateway, make_api, emulator):
    """`signing: envoy` on the in-filter config (no aws_request_signing): the request reaches
    Bedrock unsigned and is refused — so in the tests above the signature is Envoy's."""
    gateway = start_gateway("envoy-signing-without-signer", plugin_config={**demo_plugin_config(), "signing": "envoy"})
    api = make_api(gateway)
    with pytest.raises(openai.APIStatusError) as info:
        api.client.chat.completions.create(model=SONNET, messages=user("hi"))
    assert info.value.status_code == 403
    received = emulator.last()
    assert received["error"] == "MissingAuthenticationTokenException"
    assert "authorization" not in received["headers"] and "x-amz-date" not in received["headers"]


def test_no_credentials_in_the_filter(start_gateway, make_api, emulator, workdir):
    """Envoy's inline credentials, none in the VM: chat works, embeddings are a 503 (the filter
    cannot sign its side calls) and nothing is sent unsigned."""
    config = yaml.safe_load(NATIVE_YAML.read_text())
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"][1]["typed_config"]["credential_provider"] = {
        "custom_credential_provider_chain": True,
        "inline_credential": {"access_key_id": DEMO_ACCESS_KEY_ID, "secret_access_key": DEMO_SECRET_ACCESS_KEY},
    }
    path = workdir / "envoy-native-inline.src.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    gateway = start_gateway("native-inline", envoy_yaml=path,
                            env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    api = make_api(gateway)
    completion = api.client.chat.completions.create(model=SONNET, messages=user("inline"))
    assert completion.choices[0].message.content == "Echo: inline"
    assert_signed_by_envoy(emulator.last())
    emulator.reset()
    with pytest.raises(openai.InternalServerError) as info:
        api.client.embeddings.create(model="text-embedding-3-small", input="x")
    assert info.value.status_code == 503
    assert api.last().json()["error"]["code"] == "credentials_unavailable"
    assert emulator.bedrock_requests() == []


@pytest.fixture
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
