"""SigV4 verification with botocore, the way Bedrock checks a signed request.

The signature is recomputed independently with botocore's ``SigV4Auth`` (service ``bedrock``,
the emulator's region) from the method, the raw path as received, the received body and exactly
the headers listed in ``SignedHeaders``. Expected credentials: ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` (default: the demo pair in config.py). When ``AWS_SESSION_TOKEN`` is
set, ``x-amz-security-token`` must carry it (and must be absent otherwise). Failures are ``403``
with ``x-amzn-ErrorType``:

* ``MissingAuthenticationTokenException``: no ``Authorization``;
* ``IncompleteSignatureException``: an ``Authorization`` that is not ``AWS4-HMAC-SHA256`` (e.g. a
  client ``Bearer`` key) or a malformed one;
* ``UnrecognizedClientException``: unknown access key or wrong session token;
* ``InvalidSignatureException``: wrong signature, scope, clock skew over 15 minutes, or an
  ``x-amz-content-sha256`` that is not the body's hash.

aws_services.py verifies Secrets Manager and SSM calls with the same function (``service=``).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .errors import BedrockError

SIGNING_SERVICE = "bedrock"
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)
AUTH_HEADER = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation "
    "for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."


class _ExactHeadersSigV4(SigV4Auth):
    """SigV4Auth that signs exactly the headers it is given (botocore would drop a few, such
    as user-agent, that a client may legitimately have signed)."""

    def headers_to_sign(self, request):
        from botocore.compat import HTTPHeaders

        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map


@dataclass
class AuthConfig:
    access_key_id: str
    secret_access_key: str
    region: str
    session_token: str | None = None


def verify_sigv4(
    auth: AuthConfig,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    now: datetime.datetime | None = None,
    service: str = SIGNING_SERVICE,
) -> None:
    """Raises BedrockError(403, ...) unless the request carries a valid SigV4 signature."""

    def get_all(name: str) -> list[str]:
        return [v for k, v in headers if k.lower() == name]

    authorization = get_all("authorization")
    if not authorization:
        raise BedrockError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    if len(authorization) > 1:
        raise BedrockError(403, "IncompleteSignatureException", "More than one Authorization header.")
    match = AUTH_HEADER.match(authorization[0].strip())
    if not match:
        scheme = authorization[0].strip().split(" ", 1)[0]
        raise BedrockError(
            403,
            "IncompleteSignatureException",
            f"Authorization header requires an AWS4-HMAC-SHA256 signature "
            f"(Credential, SignedHeaders, Signature); got scheme '{scheme}'.",
        )
    credential = match.group("cred").split("/")
    if len(credential) != 5:
        raise BedrockError(403, "IncompleteSignatureException", "Authorization header is malformed.")
    access_key, scope_date, scope_region, scope_service, terminator = credential
    if access_key != auth.access_key_id:
        raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN)

    tokens = get_all("x-amz-security-token")
    if auth.session_token is not None:
        if tokens != [auth.session_token]:
            raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN)
    elif tokens:
        raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN)

    amz_date = get_all("x-amz-date")
    if len(amz_date) != 1:
        raise BedrockError(
            403, "IncompleteSignatureException", "Authorization header requires existence of "
            "either a 'X-Amz-Date' or a 'Date' header."
        )
    timestamp = amz_date[0].strip()
    try:
        signed_at = datetime.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc
        )
    except ValueError:
        raise BedrockError(403, "IncompleteSignatureException", f"Invalid X-Amz-Date '{timestamp}'.")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise BedrockError(
            403,
            "InvalidSignatureException",
            f"Signature expired: {timestamp} is now earlier than "
            f"{(now - MAX_CLOCK_SKEW).strftime('%Y%m%dT%H%M%SZ')} "
            f"({now.strftime('%Y%m%dT%H%M%SZ')} - 15 min.)",
        )
    if scope_date != timestamp[:8] or terminator != "aws4_request":
        raise BedrockError(403, "InvalidSignatureException", "Credential scope is malformed.")
    if scope_region != auth.region:
        raise BedrockError(
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region. (got '{scope_region}', "
            f"expected '{auth.region}')",
        )
    if scope_service != service:
        raise BedrockError(
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'.",
        )

    signed_names = match.group("signed").split(";")
    if "host" not in signed_names:
        raise BedrockError(
            403, "InvalidSignatureException", "'Host' must be a signed header."
        )
    if signed_names != sorted(set(signed_names)) or any(n != n.lower() for n in signed_names):
        raise BedrockError(
            403, "InvalidSignatureException", "SignedHeaders must be lower-case, sorted and unique."
        )
    for name in ("x-amz-date", "x-amz-security-token"):
        if get_all(name) and name not in signed_names:
            raise BedrockError(403, "InvalidSignatureException", f"'{name}' must be a signed header.")
    body_hash = hashlib.sha256(body).hexdigest()
    for declared in get_all("x-amz-content-sha256"):
        if declared.strip() != body_hash:
            raise BedrockError(
                403,
                "InvalidSignatureException",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )

    request_headers = []
    for name in signed_names:
        values = get_all(name)
        if not values:
            raise BedrockError(
                403, "InvalidSignatureException", f"Signed header '{name}' is missing from the request."
            )
        request_headers += [(name, v) for v in values]
    host = get_all("host")[0]
    path, _, query = raw_path.partition("?")
    request = AWSRequest(
        method=method,
        url=f"http://{host}{path}" + (f"?{query}" if query else ""),
        data=body,
    )
    for name, value in request_headers:
        request.headers.add_header(name, value)
    request.context["timestamp"] = timestamp
    signer = _ExactHeadersSigV4(
        Credentials(auth.access_key_id, auth.secret_access_key, auth.session_token),
        service,
        auth.region,
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match.group("sig")):
        raise BedrockError(403, "InvalidSignatureException", SIGNATURE_MISMATCH)
