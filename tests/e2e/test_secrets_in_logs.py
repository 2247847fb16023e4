"""No secret reaches Envoy's log: bad plugin configurations holding secret-looking values in
the wrong places, bad key tables served by Secrets Manager / SSM (the emulator), and requests
with bad API keys and IAM tokens. Every secret is a distinctive marker (`sk-SECRET-MARKER-…`);
the test greps Envoy's whole stdout/stderr (and the access log) for it.

Found in review: serde's error messages quote the offending value (`invalid type: string
"sk-…", expected …`), and the filter logged them for the key table and the configuration.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import uuid

import botocore.session
import httpx2
import pytest
import yaml

from e2e_support import (
    CLIENT_TIMEOUT,
    LOGS,
    REPO,
    demo_env,
    demo_plugin_config,
    envoy_binary,
    free_port,
    render_envoy_config,
    stop_process,
    wait_http,
)

sys.path.insert(0, str(REPO / "tests" / "clients"))
from iam_token import iam_token  # noqa: E402

MARK = "SECRET-MARKER"


def secret(n: int) -> str:
    return f"sk-{MARK}-{n}"


def assert_clean(text: str, where: str) -> None:
    found = [line for line in text.splitlines() if MARK in line]
    assert not found, f"a secret reached {where}:\n" + "\n".join(found[:10])


# --------------------------------------------------------------------------------------------
# bad plugin configurations (Envoy --mode validate runs on_configure)
# --------------------------------------------------------------------------------------------

BASE = {k: v for k, v in demo_plugin_config().items()}
STATIC = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-marker"}

BAD_CONFIGS = [
    pytest.param({"credentials": {"access_key_id": "AKIDEXAMPLE", "secret_access_key": [secret(1)]}}, id="secret-wrong-type"),
    pytest.param({"credentials": {**STATIC, "secret_key": secret(2)}}, id="unknown-field-secret-value"),
    pytest.param({secret(3): secret(3)}, id="secret-as-field-name"),
    pytest.param({"credentials": {"access_key_id": "AKIDEXAMPLE", secret(4): "x"}}, id="secret-as-credentials-field"),
    pytest.param({"credentials": secret(5)}, id="credentials-a-string"),
    pytest.param({"api_keys": secret(6)}, id="api-keys-a-string"),
    pytest.param({"api_keys": [{"key": secret(7)}]}, id="api-key-an-object"),
    pytest.param({"tenants": {"demo": {"key_sha256": [secret(8)]}}}, id="raw-key-for-digest"),
    pytest.param({"tenants": {"demo": {"key_sha256": secret(9)}}}, id="digests-a-string"),
    pytest.param({"bedrock_api_key": [secret(10)]}, id="bedrock-api-key-wrong-type"),
    pytest.param({"gateway": {"host": "gw.example", "token": {"t": secret(11)}}}, id="gateway-token-wrong-type"),
    pytest.param({"gateway": {"host": "gw.example", "token_env": secret(12)}}, id="token-in-token-env"),
    pytest.param({"gateway": {"host": f"https://{secret(13)}@gw/x", "token": "t"}}, id="gateway-host"),
    pytest.param({"region": f"{secret(14)} x"}, id="region"),
    pytest.param({"bedrock_host": f"https://user:{secret(15)}@host/x"}, id="bedrock-host"),
    pytest.param({"credentials_source": {"type": secret(16), "cluster": "imds"}}, id="credentials-source-type"),
    pytest.param(
        {"credentials_source": {"type": "container", "cluster": "c", "path": "/creds", "authorization": [secret(17)]}},
        id="container-authorization-wrong-type",
    ),
    pytest.param({"max_request_body_bytes": secret(18)}, id="number-a-string"),
    pytest.param({"models": [{"id": "m", "provider": "p", "inference_profiles": [secret(19)]}]}, id="model-profile"),
    pytest.param({"api_keys_source": {"service": secret(20), "id": "x"}}, id="key-source-service"),
    pytest.param({"iam_auth": {"principals": {secret(21): "demo"}}}, id="principal-key"),
    pytest.param({"iam_auth": {"principals": {"arn:aws:iam::1:role/r": secret(22)}}}, id="principal-tenant"),
]


def validate(tmp_path, configuration: str) -> tuple[int, str]:
    config = render_envoy_config(
        listener_port=free_port(), admin_port=free_port(), upstream_port=free_port(), plugin_config=configuration
    )
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "info"],
        capture_output=True,
        text=True,
        timeout=60,
        env=demo_env(),
        cwd=str(REPO),
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("change", BAD_CONFIGS)
def test_a_bad_config_never_logs_a_value(tmp_path, change):
    code, log = validate(tmp_path, json.dumps({**BASE, **change}, indent=2))
    assert code != 0, log
    assert "invalid plugin configuration" in log, log
    assert_clean(log, "Envoy's log")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"credentials": {"secret_access_key": "%s"' % secret(30), id="truncated"),
        pytest.param('{"credentials": {"secret_access_key": %s}}' % secret(31), id="unquoted"),
        pytest.param('{"api_keys": ["%s" "x"]}' % secret(32), id="missing-comma"),
    ],
)
def test_broken_json_never_logs_a_value(tmp_path, text):
    code, log = validate(tmp_path, text)
    assert code != 0, log
    assert "not valid JSON" in log, log
    assert_clean(log, "Envoy's log")


# --------------------------------------------------------------------------------------------
# a running gateway: bad key tables, bad keys and tokens
# --------------------------------------------------------------------------------------------

BAD_TABLES = [
    ('{"tenants": {"acme": {"key_sha256": "%s"}}}' % secret(40), "`tenants.acme.key_sha256`: invalid type: string"),
    ('{"tenants": {"acme": {"key_sha256": ["%s"]}}}' % secret(41), "`tenants.acme.key_sha256[0]` is not a 64-digit hex"),
    ('{"tenants": {"%s": "acme"}}' % secret(42), "`tenants.?`: invalid type: string"),
    ('{"tenants": {"acme": {"key_sha256": [], "%s": "%s"}}}' % (secret(43), secret(43)), "`tenants.acme`: unknown field,"),
    ('{"%s": "acme"}' % secret(44), "unknown field, expected `tenants`"),
    ('{"tenants": {"acme": {"key_sha256": ["%s"' % secret(45), "not valid JSON"),
    (secret(46), "not valid JSON"),
    ('{"tenants": {"%s": {"key_sha256": []}}}' % secret(47), "is not in the plugin configuration's `tenants`"),
    ('{"tenants": {"acme": {"key_sha256": [["%s"]]}}}' % secret(48), "`tenants.acme.key_sha256[0]`: invalid type: sequence"),
]


def start_envoy(tmp_path, emulator, name: str, plugin_config: dict):
    """Envoy at `info` (the filter logs at info and above; Envoy's own debug output would
    print request headers, which is not what is tested here)."""
    access_log = tmp_path / f"access-{name}.log"
    listener_port, admin_port = free_port(), free_port()
    config = render_envoy_config(
        listener_port=listener_port,
        admin_port=admin_port,
        upstream_port=int(emulator.url.rsplit(":", 1)[1]),
        plugin_config=plugin_config,
        access_log=access_log,
    )
    path = tmp_path / f"envoy-{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = tmp_path / f"envoy-{name}.log"
    LOGS[f"envoy-{name}"] = log
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                envoy_binary(), "-c", str(path), "--concurrency", "2", "--log-level", "info",
                "--disable-hot-restart", "--file-flush-interval-msec", "200",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=demo_env(AWS_SESSION_TOKEN=None),
            cwd=str(REPO),
        )
    try:
        wait_http(f"http://127.0.0.1:{admin_port}/ready", proc, log, f"envoy {name}")
    except BaseException:
        stop_process(proc)
        raise
    return proc, f"http://127.0.0.1:{listener_port}", log, access_log


def control(emulator, path: str, content: str) -> None:
    httpx2.put(f"{emulator.url}/_emulator/aws/{path}", content=content, timeout=5).raise_for_status()


def count(log, text: str) -> int:
    return log.read_text(errors="replace").count(text)


def wait_for(log, text: str, more_than: int = 0, timeout: float = 10.0) -> None:
    """Until `text` is in the log more than `more_than` times (a new line saying it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count(log, text) > more_than:
            return
        time.sleep(0.2)
    pytest.fail(f"{text!r} never appeared (again) in the log:\n{log.read_text(errors='replace')[-3000:]}")


def serve_bad_tables(emulator, log, path: str, tables) -> None:
    for table, says in tables:
        before = count(log, says)
        control(emulator, path, table)
        wait_for(log, says, more_than=before)


def ask(url: str, headers: dict) -> int:
    return httpx2.post(
        f"{url}/v1/chat/completions",
        headers={**headers, "connection": "close"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        timeout=CLIENT_TIMEOUT,
    ).status_code


def iam(url: str) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def test_key_tables_keys_and_tokens_never_reach_the_log(tmp_path, emulator):
    secret_id = f"bedrock-openai/keys-{uuid.uuid4().hex[:8]}"
    base = {k: v for k, v in BASE.items() if k not in ("api_keys", "tenants")}
    config = {
        **base,
        "tenants": {"acme": {}, "ops": {}},
        "api_keys_source": {"service": "secretsmanager", "id": secret_id, "refresh_seconds": 1, "retry_seconds": 1},
        "iam_auth": {"principals": {"arn:aws:iam::123456789012:role/bedrock-callers": "ops"}},
    }
    proc, url, log, access_log = start_envoy(tmp_path, emulator, "secrets-sm", config)
    try:
        serve_bad_tables(emulator, log, f"secrets/{secret_id}", BAD_TABLES)
        # A good table, then bad ones again: "refresh failed, still serving the last good table".
        good = json.dumps({"tenants": {"acme": {"key_sha256": [hashlib.sha256(b"sk-good-key-1").hexdigest()]}}})
        control(emulator, f"secrets/{secret_id}", good)
        wait_for(log, "API key table loaded")
        serve_bad_tables(emulator, log, f"secrets/{secret_id}", BAD_TABLES[:2])
        assert "still serving the last good table" in log.read_text()

        # Bad keys and tokens, in every header a key can come in.
        session = botocore.session.Session()
        session.set_credentials("AKIDEXAMPLECALLER000", "not-the-secret", token=secret(60))
        signed = iam_token(region="us-east-1", session=session)
        for headers in [
            {"authorization": f"Bearer {secret(50)}"},
            {"authorization": f"bearer {secret(51)}"},
            {"authorization": secret(52)},
            {"api-key": secret(53)},
            {"x-api-key": secret(54)},
            {"authorization": f"Bearer k8s-aws-v1.{secret(55)}"},
            {"authorization": "Bearer " + iam(f"https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Security-Token={secret(56)}\r\n")},
            {"authorization": "Bearer " + iam(f"https://sts.us-east-1.amazonaws.com/?{secret(57)}=1")},
            # Well formed, refused by STS (unknown caller): the token goes to STS, not the log.
            {"authorization": f"Bearer {signed}"},
        ]:
            assert ask(url, headers) == 401, headers
        time.sleep(0.5)  # access log flush interval
    finally:
        stop_process(proc)
    assert_clean(log.read_text(errors="replace"), "Envoy's log")
    assert_clean(access_log.read_text(errors="replace") if access_log.exists() else "", "the access log")


def test_ssm_key_tables_never_reach_the_log(tmp_path, emulator):
    name = f"/bedrock-openai/keys-{uuid.uuid4().hex[:8]}"
    base = {k: v for k, v in BASE.items() if k not in ("api_keys", "tenants")}
    config = {
        **base,
        "tenants": {"acme": {}},
        "api_keys_source": {"service": "ssm", "id": name, "refresh_seconds": 1, "retry_seconds": 1},
    }
    proc, _, log, _ = start_envoy(tmp_path, emulator, "secrets-ssm", config)
    try:
        serve_bad_tables(emulator, log, f"parameters/{name}", BAD_TABLES[:3] + BAD_TABLES[5:7])
    finally:
        stop_process(proc)
    assert_clean(log.read_text(errors="replace"), "Envoy's log")
