"""Path forms and config versions through real Envoy: `/v1`, a configured prefix, the Azure
OpenAI deployment form driven by the SDK's own `AzureOpenAI` client, `config_version` and
deprecated config names."""

from __future__ import annotations

import openai
import pytest

from e2e_support import (
    CLIENT_TIMEOUT,
    DEMO_API_KEY,
    SONNET,
    Api,
    demo_plugin_config,
    validate_exchange,
)
import openai_schema
from test_plugin_config import validate

API_VERSION = "2024-10-21"
DEPLOYMENT = "prod-gpt4o"


@pytest.fixture(scope="module")
def compat_gateway(start_gateway):
    config = {
        **demo_plugin_config(),
        "config_version": 1,
        "path_prefix": "/openai",
        "azure_deployments": {DEPLOYMENT: "gpt-4o"},
    }
    return start_gateway("path-forms", plugin_config=config)


@pytest.fixture
def compat_api(compat_gateway, emulator):
    emulator.reset()
    api = Api(compat_gateway)
    yield api
    api.close()
    for exchange in api.exchanges:
        if exchange.content_type == "application/json" and exchange.status == 200:
            openai_schema.validate_completion(exchange.json())
        else:
            validate_exchange(exchange)


def azure(api: Api, api_key: str = DEMO_API_KEY) -> openai.AzureOpenAI:
    client = openai.AzureOpenAI(
        azure_endpoint=api.gateway.url,
        api_version=API_VERSION,
        api_key=api_key,
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
        http_client=api._http_client(),
    )
    api._clients.append(client)
    return client


def user(text):
    return [{"role": "user", "content": text}]


def test_azure_client_plain(compat_api, emulator):
    completion = azure(compat_api).chat.completions.create(
        model=DEPLOYMENT, messages=user("Hello from Azure")
    )
    assert completion.choices[0].message.content == "Echo: Hello from Azure"
    assert completion.model == "gpt-4o"
    sent = compat_api.last()
    assert sent.url.endswith(f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={API_VERSION}")
    assert sent.request_headers["api-key"] == DEMO_API_KEY
    assert "authorization" not in sent.request_headers
    received = emulator.last()
    assert received["model_id"] == SONNET
    # The caller's key never reaches Bedrock.
    assert "api-key" not in received["headers"]
    assert received["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")


def test_azure_client_stream(compat_api, emulator):
    stream = azure(compat_api).chat.completions.create(
        model=DEPLOYMENT,
        messages=user("Stream from Azure please"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: Stream from Azure please"
    assert chunks[-1].usage.completion_tokens == 5
    assert compat_api.last().content_type == "text/event-stream"
    assert emulator.last()["operation"] == "ConverseStream"


def test_azure_deployment_wins_over_the_body_model(compat_api, emulator):
    r = compat_api.http.post(
        f"{compat_api.gateway.url}/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={API_VERSION}",
        headers={"api-key": DEMO_API_KEY},
        json={"model": "something-else", "messages": user("hi")},
    )
    assert r.status_code == 200, r.text
    assert emulator.last()["model_id"] == SONNET


def test_azure_errors(compat_api, emulator):
    with pytest.raises(openai.NotFoundError) as e:
        azure(compat_api).chat.completions.create(model="no-such-deployment", messages=user("x"))
    assert e.value.code == "DeploymentNotFound"
    with pytest.raises(openai.AuthenticationError):
        azure(compat_api, api_key="sk-wrong-key-123").chat.completions.create(
            model=DEPLOYMENT, messages=user("x")
        )
    r = compat_api.http.post(
        f"{compat_api.gateway.url}/openai/deployments/{DEPLOYMENT}/chat/completions",
        headers={"api-key": DEMO_API_KEY},
        json={"model": "x", "messages": user("hi")},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "api-version"
    assert emulator.bedrock_requests() == []


def test_api_key_header_counts_only_on_azure_paths(compat_api):
    r = compat_api.http.post(
        f"{compat_api.gateway.url}/v1/chat/completions",
        headers={"api-key": DEMO_API_KEY},
        json={"model": "gpt-4o", "messages": user("hi")},
    )
    assert r.status_code == 401


@pytest.mark.parametrize("base", ["/v1", "/openai/v1", "/openai/v1/"])
def test_openai_client_on_each_prefix(compat_api, emulator, base):
    client = openai.OpenAI(
        api_key=DEMO_API_KEY,
        base_url=f"{compat_api.gateway.url}{base}",
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
        http_client=compat_api._http_client(),
    )
    completion = client.chat.completions.create(model="gpt-4o", messages=user("prefixed"))
    assert completion.choices[0].message.content == "Echo: prefixed"


@pytest.mark.parametrize("path", ["/x/openai/v1/chat/completions", "/openai/v2/chat/completions", "/openaiv1/chat/completions"])
def test_near_miss_paths_are_404(compat_api, path):
    r = compat_api.http.post(
        f"{compat_api.gateway.url}{path}",
        headers={"authorization": f"Bearer {DEMO_API_KEY}"},
        json={"model": "gpt-4o", "messages": user("hi")},
    )
    assert r.status_code == 404


def test_deprecated_names_start_with_a_warning(start_gateway, emulator):
    config = demo_plugin_config()
    config["aws_region"] = config.pop("region")
    config["model_map"] = config.pop("model_aliases")
    gateway = start_gateway("deprecated-names", plugin_config=config)
    api = Api(gateway)
    try:
        completion = api.client.chat.completions.create(model="gpt-4o", messages=user("old names"))
        assert completion.choices[0].message.content == "Echo: old names"
        assert emulator.last()["model_id"] == SONNET
    finally:
        api.close()
    log = gateway.log.read_text()
    assert "`aws_region` is deprecated, use `region`" in log, log
    assert "`model_map` is deprecated, use `model_aliases`" in log, log


@pytest.mark.parametrize(
    "change, words",
    [
        ({"config_version": 2}, ["config_version", "reads config_version 1"]),
        ({"config_version": 1, "colour": "blue"}, ["unknown field `colour`"]),
        ({"aws_region": "us-east-1"}, ["`aws_region` and `region` are both set"]),
        ({"path_prefix": "openai"}, ["path_prefix"]),
        ({"azure_deployments": {"a/b": "gpt-4o"}}, ["azure_deployments"]),
    ],
)
def test_config_version_and_bad_compat_fields_fail_start(tmp_path, change, words):
    result = validate(tmp_path, {**demo_plugin_config(), **change})
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    for w in words:
        assert w in log, log
