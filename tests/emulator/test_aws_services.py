"""The emulator's Secrets Manager, SSM and STS, checked with botocore's own clients and a
presigned GetCallerIdentity URL."""

from __future__ import annotations

import base64
import sys
import threading
from pathlib import Path

import botocore.session
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import bedrock_emulator as emu
from bedrock_emulator import aws_services

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients"))
from iam_token import iam_token  # noqa: E402

REGION = "us-east-1"


@pytest.fixture(scope="module")
def url():
    config = emu.EmulatorConfig(
        auth=emu.AuthConfig(emu.DEMO_ACCESS_KEY_ID, emu.DEMO_SECRET_ACCESS_KEY, REGION, None),
        model=emu.load_service_model(),
        quiet=True,
    )
    server = emu.make_server("127.0.0.1", 0, config)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def client(service, url, secret=emu.DEMO_SECRET_ACCESS_KEY):
    return botocore.session.get_session().create_client(
        service, region_name=REGION, endpoint_url=url, aws_access_key_id=emu.DEMO_ACCESS_KEY_ID,
        aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}),
    )


def test_secrets_manager(url):
    requests.put(f"{url}/_emulator/aws/secrets/app/keys", data="v1", timeout=5).raise_for_status()
    sm = client("secretsmanager", url)
    assert sm.get_secret_value(SecretId="app/keys")["SecretString"] == "v1"
    requests.put(f"{url}/_emulator/aws/secrets/app/keys", data="v2", timeout=5).raise_for_status()
    assert sm.get_secret_value(SecretId="app/keys")["SecretString"] == "v2"
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="missing")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        client("secretsmanager", url, secret="wrong").get_secret_value(SecretId="app/keys")
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    requests.post(f"{url}/_emulator/aws/fail", json={"status": 500}, timeout=5).raise_for_status()
    try:
        with pytest.raises(ClientError) as e:
            sm.get_secret_value(SecretId="app/keys")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    finally:
        requests.post(f"{url}/_emulator/aws/fail", json={"status": None}, timeout=5).raise_for_status()


def test_ssm_parameter(url):
    requests.put(f"{url}/_emulator/aws/parameters/%2Fapp%2Fkeys", data="p1", timeout=5).raise_for_status()
    ssm = client("ssm", url)
    assert ssm.get_parameter(Name="/app/keys", WithDecryption=True)["Parameter"]["Value"] == "p1"
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/nope")
    assert e.value.response["Error"]["Code"] == "ParameterNotFound"


def presigned(url, secret=aws_services.DEMO_CALLER_SECRET_ACCESS_KEY, audience="aud"):
    session = botocore.session.Session()
    session.set_credentials(aws_services.DEMO_CALLER_ACCESS_KEY_ID, secret)
    token = iam_token(REGION, audience, 60, session, sts_host=url.split("//", 1)[1])
    raw = token[len("k8s-aws-v1."):]
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().replace("https://", "http://", 1)


def test_sts_runs_a_presigned_get_caller_identity(url):
    r = requests.get(presigned(url), headers={"x-k8s-aws-id": "aud", "accept": "application/json"}, timeout=5)
    assert r.status_code == 200, r.text
    result = r.json()["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
    assert result["Arn"] == aws_services.DEMO_CALLER_ARN
    for bad_url, headers, code in [
        (presigned(url), {"x-k8s-aws-id": "other"}, "SignatureDoesNotMatch"),
        (presigned(url), {}, "SignatureDoesNotMatch"),
        (presigned(url, secret="wrong"), {"x-k8s-aws-id": "aud"}, "SignatureDoesNotMatch"),
        (presigned(url).replace("GetCallerIdentity", "AssumeRole"), {"x-k8s-aws-id": "aud"}, "InvalidAction"),
    ]:
        r = requests.get(bad_url, headers=headers, timeout=5)
        assert r.status_code in (400, 403) and r.json()["Error"]["Code"] == code, r.text
