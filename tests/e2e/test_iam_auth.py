"""IAM caller authentication: a presigned sts:GetCallerIdentity token as the API key, checked
for shape by the filter, verified by STS (the emulator, recomputing the presigned signature
with botocore) through the `sts` cluster, the ARN mapped to a tenant, the verdict cached."""

from __future__ import annotations

import base64
import sys

import botocore.session
import httpx2
import openai
import pytest

from e2e_support import CLIENT_TIMEOUT, DEMO_API_KEY, REPO, demo_plugin_config

sys.path.insert(0, str(REPO / "tests" / "clients"))
from bedrock_emulator import aws_services  # noqa: E402 - e2e_support put tests/emulator on the path
from iam_token import iam_token  # noqa: E402

AUDIENCE = "bedrock-openai-e2e"
ROLE_ARN = "arn:aws:iam::123456789012:role/bedrock-callers"


def session(access_key: str, secret: str) -> botocore.session.Session:
    s = botocore.session.Session()
    s.set_credentials(access_key, secret)
    return s


def token(access_key=aws_services.DEMO_CALLER_ACCESS_KEY_ID, secret=aws_services.DEMO_CALLER_SECRET_ACCESS_KEY, **kw):
    kw.setdefault("audience", AUDIENCE)
    return iam_token(region="us-east-1", session=session(access_key, secret), **kw)


def sts_calls(emulator) -> int:
    return httpx2.get(f"{emulator.url}/_emulator/aws/calls", timeout=5).json().get("GetCallerIdentity", 0)


@pytest.fixture(scope="module")
def iam_gateway(start_gateway):
    config = {
        **demo_plugin_config(),
        "tenants": {**demo_plugin_config()["tenants"], "ops": {"models": ["gpt-4o"]}},
        "iam_auth": {"principals": {ROLE_ARN: "ops"}, "audience": AUDIENCE, "cache_seconds": 30},
    }
    return start_gateway("iam", plugin_config=config)


def client(gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{gateway.url}/v1", max_retries=0, timeout=CLIENT_TIMEOUT)


def ask(gateway, key: str, text: str = "hi") -> httpx2.Response:
    return httpx2.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}]},
        timeout=CLIENT_TIMEOUT,
    )


def test_a_mapped_role_is_accepted_plain_and_stream_and_cached(iam_gateway, emulator):
    emulator.reset()
    t = token()
    before = sts_calls(emulator)
    c = client(iam_gateway, t)
    completion = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hello as a role"}])
    assert completion.choices[0].message.content == "Echo: Hello as a role"
    assert sts_calls(emulator) == before + 1
    received = emulator.last()
    assert received["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")
    assert "k8s-aws-v1" not in str(received["headers"])
    stream = c.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Stream as a role"}], stream=True
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == "Echo: Stream as a role"
    # Further requests with the same token on the same worker come from the cache.
    for _ in range(3):
        assert ask(iam_gateway, t).status_code == 200
    assert sts_calls(emulator) <= before + 2  # at most once per Envoy worker


def test_api_keys_still_work_next_to_iam(iam_gateway):
    assert ask(iam_gateway, DEMO_API_KEY).status_code == 200


def test_an_unmapped_identity_is_forbidden(iam_gateway, emulator):
    httpx2.put(
        f"{emulator.url}/_emulator/aws/identities/AKIDOTHERCALLER00000",
        json={"secret_access_key": "other-secret", "arn": "arn:aws:sts::123456789012:assumed-role/someone-else/s"},
        timeout=5,
    ).raise_for_status()
    with pytest.raises(openai.PermissionDeniedError) as e:
        client(iam_gateway, token("AKIDOTHERCALLER00000", "other-secret")).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    assert "someone-else" in str(e.value)
    assert emulator.bedrock_requests() == [] or all("x" != r["body"] for r in emulator.bedrock_requests())


def test_a_wrong_signature_is_refused_by_sts(iam_gateway, emulator):
    before = sts_calls(emulator)
    r = ask(iam_gateway, token(secret="not-the-right-secret"))
    assert r.status_code == 401, r.text
    assert "SignatureDoesNotMatch" in r.json()["error"]["message"]
    assert sts_calls(emulator) == before + 1


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"sts_host": "sts.amazonaws.com.example.org"}, "host"),
        ({"audience": None}, "x-k8s-aws-id"),
        ({"expires": 3600}, "X-Amz-Expires"),
    ],
)
def test_bad_shapes_are_refused_without_asking_sts(iam_gateway, emulator, kwargs, says):
    before = sts_calls(emulator)
    r = ask(iam_gateway, token(**kwargs))
    assert r.status_code == 401, r.text
    assert says in r.json()["error"]["message"]
    assert sts_calls(emulator) == before


def test_the_iam_tenant_gets_its_policy(iam_gateway):
    r = httpx2.post(
        f"{iam_gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {token()}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
        timeout=CLIENT_TIMEOUT,
    )
    assert r.status_code == 403, r.text  # `ops` may call gpt-4o only


def test_a_garbled_token_is_refused(iam_gateway):
    for bad in ["k8s-aws-v1.", "k8s-aws-v1.!!!", "k8s-aws-v1." + "QUFB" * 10]:
        assert ask(iam_gateway, bad).status_code == 401


def with_url(url: str) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def presigned_url(t: str) -> str:
    body = t[len("k8s-aws-v1.") :]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def set_param(url: str, name: str, raw_value: str) -> str:
    """The URL with one query value replaced by `raw_value`, exactly as given (not encoded)."""
    base, query = url.split("?", 1)
    pairs = [p for p in query.split("&") if not p.startswith(f"{name}=")]
    return base + "?" + "&".join([*pairs, f"{name}={raw_value}"])


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda u: set_param(u, "X-Amz-Date", u.split("X-Amz-Date=")[1][:16] + "\r\n"), id="crlf"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "a\rb"), id="cr"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "a\nx-evil: 1"), id="lf-header"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "a\x00b"), id="nul"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "a b"), id="space"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "a\tb"), id="tab"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "t\u00e9"), id="non-ascii"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "a+b/c"), id="raw-plus-slash"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "a%zz"), id="bad-escape"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "a%0D%0Ab"), id="encoded-crlf"),
        pytest.param(lambda u: set_param(u, "X-Amz-Security-Token", "A" * 9000), id="over-long"),
        pytest.param(lambda u: u + "&X-Amz-Expires=60", id="duplicated"),
        pytest.param(lambda u: u.split("&X-Amz-Signature=")[0], id="no-signature"),
        pytest.param(lambda u: u.replace("https://", "https://sts.us-east-1.amazonaws.com\r\n", 1), id="crlf-host"),
    ],
)
def test_malformed_tokens_are_401_without_asking_sts(iam_gateway, emulator, mangle):
    """Found in review: a raw CR/LF, space or similar in a query value went to STS as the
    call's `:path`, the dispatch failed, and the caller got a 503."""
    before = sts_calls(emulator)
    r = ask(iam_gateway, with_url(mangle(presigned_url(token()))))
    assert r.status_code == 401, r.text
    error = r.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key", error
    assert error["message"].startswith("Invalid IAM token"), error
    assert sts_calls(emulator) == before
