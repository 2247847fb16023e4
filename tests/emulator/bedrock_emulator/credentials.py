"""Other ways in: a custom gateway's token, Bedrock API keys, rotating instance credentials.

* Custom gateway (``--gateway-token`` or ``$BEDROCK_GATEWAY_TOKEN``): ``POST
  /v1.0/model/bedrock/model/{alias}/converse`` and ``/converse-stream`` take the header
  ``authorization-token`` instead of SigV4 (missing: ``401``, wrong: ``403``, both
  ``{"message"}`` without ``x-amzn-ErrorType``, as a gateway answers) and need ``accept:
  application/json`` (else ``406``); SigV4 headers there are a ``400``.
* Bedrock API key (``--api-key`` or ``$AWS_BEARER_TOKEN_BEDROCK``): ``Authorization: Bearer
  <key>`` instead of SigV4 (a wrong key is ``403 UnrecognizedClientException``; without an API
  key configured a bearer token is an ``IncompleteSignatureException``).
* Rotating credentials: every fetch from the IMDS / container endpoints (server.py) issues new
  keys that live ``credential_ttl`` seconds; SigV4 with any issued key is accepted until it
  expires, then ``403 ExpiredTokenException``.
"""

from __future__ import annotations

import datetime
import hmac
import time
import uuid
from dataclasses import dataclass

from .config import EmulatorConfig
from .errors import BedrockError
from .sigv4 import AUTH_HEADER, AuthConfig, verify_sigv4

GATEWAY_TOKEN_HEADER = "authorization-token"
IMDS_ROLE = "bedrock-emulator-role"


@dataclass
class IssuedCredentials:
    secret_access_key: str
    session_token: str
    expires: float  # Unix time


def verify_gateway(config: EmulatorConfig, headers: dict[str, str]) -> None:
    """A custom gateway's checks: its token header (401 missing, 403 wrong, as a gateway
    answers; no x-amzn-ErrorType) and `accept: application/json`."""
    token = headers.get(GATEWAY_TOKEN_HEADER)
    if token is None:
        raise BedrockError(401, "GatewayUnauthorized", f"Missing {GATEWAY_TOKEN_HEADER} header.")
    if not hmac.compare_digest(token, config.gateway_token or ""):
        raise BedrockError(403, "GatewayForbidden", f"Invalid {GATEWAY_TOKEN_HEADER}.")
    if headers.get("accept", "").split(";")[0].strip() != "application/json":
        raise BedrockError(406, "GatewayNotAcceptable", "The gateway requires accept: application/json.")
    if "authorization" in headers or "x-amz-date" in headers:
        raise BedrockError(400, "GatewayBadRequest", "AWS signing headers must not be sent to the gateway.")


def verify_auth(
    config: EmulatorConfig,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    """Bedrock's authentication: a Bedrock API key as a bearer token, else SigV4 with the
    configured keys or with keys the credential endpoints issued and that have not expired."""
    authorization = [v for k, v in headers if k.lower() == "authorization"]
    bearer = len(authorization) == 1 and authorization[0].strip().startswith("Bearer ")
    if bearer and config.api_key is not None:
        presented = authorization[0].strip()[len("Bearer ") :].strip()
        if not hmac.compare_digest(presented, config.api_key):
            raise BedrockError(403, "UnrecognizedClientException", "The API key is invalid.")
        if any(k.lower() in ("x-amz-date", "x-amz-security-token") for k, _ in headers):
            raise BedrockError(400, "ValidationException", "An API key request must not be SigV4-signed.")
        return
    auth = config.auth
    match = AUTH_HEADER.match(authorization[0].strip()) if len(authorization) == 1 else None
    if match:
        access_key = match.group("cred").split("/")[0]
        with config.lock:
            issued = config.issued.get(access_key)
        if issued is not None:
            if issued.expires <= time.time():
                raise BedrockError(
                    403, "ExpiredTokenException", "The security token included in the request is expired"
                )
            auth = AuthConfig(access_key, issued.secret_access_key, config.auth.region, issued.session_token)
    verify_sigv4(auth, method, raw_path, headers, body)


def issue_credentials(config: EmulatorConfig) -> dict:
    """New short-lived keys, valid for `credential_ttl` seconds (IMDS / container JSON)."""
    now = time.time()
    key = "ASIAEMU" + uuid.uuid4().hex[:13].upper()
    issued = IssuedCredentials(
        secret_access_key=uuid.uuid4().hex + uuid.uuid4().hex,
        session_token="emulated-session-" + uuid.uuid4().hex,
        expires=now + config.credential_ttl,
    )
    with config.lock:
        config.issued[key] = issued
    stamp = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(  # noqa: E731
        "%Y-%m-%dT%H:%M:%SZ"
    )
    return {
        "Code": "Success",
        "LastUpdated": stamp(now),
        "Type": "AWS-HMAC",
        "AccessKeyId": key,
        "SecretAccessKey": issued.secret_access_key,
        "Token": issued.session_token,
        "Expiration": stamp(issued.expires),
    }
