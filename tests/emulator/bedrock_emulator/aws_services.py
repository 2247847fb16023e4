"""The AWS APIs the filter calls besides Bedrock, served by the Bedrock emulator on its port.

* **Secrets Manager** ``GetSecretValue`` and **SSM Parameter Store** ``GetParameter``:
  ``POST /`` with ``X-Amz-Target: secretsmanager.GetSecretValue`` / ``AmazonSSM.GetParameter``
  and an AWS JSON 1.1 body (``{"SecretId"}`` / ``{"Name", "WithDecryption"}``). The SigV4
  signature is verified with botocore like Bedrock's (service ``secretsmanager`` / ``ssm``, the
  emulator's credentials and region). Answers ``{"ARN", "Name", "VersionId", "SecretString",
  "CreatedDate"}`` / ``{"Parameter": {"Name", "Type", "Value", "Version", "ARN"}}``; an unknown
  id is ``400 ResourceNotFoundException`` / ``400 ParameterNotFound``; errors are
  ``{"__type", "message"}``.
* **STS** ``GetCallerIdentity`` as a presigned ``GET /?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-…``
  (what an IAM bearer token contains). The query signature is recomputed with botocore's
  ``SigV4QueryAuth`` from the received ``Host`` and the headers named in
  ``X-Amz-SignedHeaders``, for the caller identities the emulator knows (access key → secret,
  ARN). Answers JSON (``GetCallerIdentityResponse.GetCallerIdentityResult.{Arn, Account,
  UserId}``); a bad signature is ``403 SignatureDoesNotMatch``, an unknown key ``403
  InvalidClientTokenId``, an expired URL ``403 ExpiredToken``.

Control (no authentication):
* ``PUT /_emulator/aws/secrets/<id>`` (body: the secret string), ``PUT /_emulator/aws/parameters/<name>``
  (body: the value) — create or rotate.
* ``POST /_emulator/aws/fail`` ``{"status": 500}`` makes every Secrets Manager / SSM call fail
  with that status (``InternalServiceError``) until ``{"status": null}``.
* ``PUT /_emulator/aws/identities/<access key id>`` ``{"secret_access_key", "arn", "session_token"?}``.
* ``GET /_emulator/aws/calls`` → how many calls each operation received.
"""

from __future__ import annotations

import datetime
import hmac
import json
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CONTROL_PREFIX = "/_emulator/aws/"

# A caller identity every emulator knows (tests/e2e use it for IAM callers).
DEMO_CALLER_ACCESS_KEY_ID = "AKIDEMOCALLERROLE000"
DEMO_CALLER_SECRET_ACCESS_KEY = "demo-secret-key-of-the-bedrock-caller-role"
DEMO_CALLER_ARN = "arn:aws:sts::123456789012:assumed-role/bedrock-callers/demo-session"
DEMO_ACCOUNT = "123456789012"

TARGETS = {
    "secretsmanager.GetSecretValue": ("secretsmanager", "GetSecretValue"),
    "AmazonSSM.GetParameter": ("ssm", "GetParameter"),
}


@dataclass
class Identity:
    secret_access_key: str
    arn: str
    session_token: str | None = None


class AwsError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class AwsServices:
    def __init__(self, auth, verify_sigv4, signature_error):
        self.auth = auth
        self.verify_sigv4 = verify_sigv4
        self.signature_error = signature_error
        self.lock = threading.Lock()
        self.secrets: dict[str, tuple[str, str]] = {}  # id → (value, version id)
        self.parameters: dict[str, tuple[str, int]] = {}
        self.fail_status: int | None = None
        self.identities = {
            DEMO_CALLER_ACCESS_KEY_ID: Identity(DEMO_CALLER_SECRET_ACCESS_KEY, DEMO_CALLER_ARN)
        }
        self.calls: dict[str, int] = {}

    # -- routing -------------------------------------------------------------------------------

    def handles(self, method: str, path: str, headers) -> bool:
        if path != "/":
            return False
        return (method == "POST" and headers.get("X-Amz-Target") in TARGETS) or method == "GET"

    def serve(self, handler, method: str, body: bytes) -> None:
        try:
            if method == "GET":
                status, payload = self._sts(handler)
                content_type = "application/json"
            else:
                status, payload = self._json11(handler, body)
                content_type = "application/x-amz-json-1.1"
        except (AwsError, ValueError) as err:
            if isinstance(err, ValueError):
                err = AwsError(400, "MalformedQueryString", str(err))
            status = err.status
            if method == "GET":
                payload = {"Error": {"Type": "Sender", "Code": err.code, "Message": err.message},
                           "RequestId": str(uuid.uuid4())}
                content_type = "application/json"
            else:
                payload = {"__type": err.code, "message": err.message}
                content_type = "application/x-amz-json-1.1"
        handler._send(status, json.dumps(payload).encode(), {"Content-Type": content_type,
                                                              "x-amzn-RequestId": str(uuid.uuid4())})

    def _count(self, op: str) -> None:
        with self.lock:
            self.calls[op] = self.calls.get(op, 0) + 1

    # -- Secrets Manager / SSM -----------------------------------------------------------------

    def _json11(self, handler, body: bytes):
        service, op = TARGETS[handler.headers["X-Amz-Target"]]
        self._count(op)
        raw_headers = [(k, v) for k, v in handler.headers.items()]
        try:
            self.verify_sigv4(self.auth, "POST", handler.path, raw_headers, body, service=service)
        except self.signature_error as err:
            raise AwsError(err.status, err.name, err.message)
        with self.lock:
            fail = self.fail_status
        if fail:
            raise AwsError(fail, "InternalServiceError", "Emulated failure of the AWS API.")
        try:
            request = json.loads(body)
        except ValueError:
            raise AwsError(400, "SerializationException", "Request body is not JSON.")
        if op == "GetSecretValue":
            secret_id = request.get("SecretId")
            with self.lock:
                found = self.secrets.get(secret_id)
            if found is None:
                raise AwsError(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
            value, version = found
            arn = f"arn:aws:secretsmanager:{self.auth.region}:{DEMO_ACCOUNT}:secret:{secret_id}-AbCdEf"
            return 200, {"ARN": arn, "Name": secret_id, "VersionId": version, "SecretString": value,
                         "VersionStages": ["AWSCURRENT"], "CreatedDate": 1700000000.0}
        name = request.get("Name")
        with self.lock:
            found = self.parameters.get(name)
        if found is None:
            raise AwsError(400, "ParameterNotFound", f"Parameter {name} not found.")
        value, version = found
        return 200, {"Parameter": {"Name": name, "Type": "SecureString", "Value": value, "Version": version,
                                   "ARN": f"arn:aws:ssm:{self.auth.region}:{DEMO_ACCOUNT}:parameter/{name.lstrip('/')}"}}

    # -- STS -----------------------------------------------------------------------------------

    def _sts(self, handler):
        self._count("GetCallerIdentity")
        query = urlsplit(handler.path).query
        pairs = parse_qsl(query, keep_blank_values=True)
        params: dict[str, str] = {}
        for key, value in pairs:
            if key in params:
                raise AwsError(400, "InvalidParameterCombination", f"Parameter {key} given twice.")
            params[key] = value
        if params.get("Action") != "GetCallerIdentity" or params.get("Version") != "2011-06-15":
            raise AwsError(400, "InvalidAction", "Only Action=GetCallerIdentity&Version=2011-06-15 is emulated.")
        needed = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                  "X-Amz-SignedHeaders", "X-Amz-Signature"]
        missing = [k for k in needed if k not in params]
        if missing:
            raise AwsError(403, "MissingAuthenticationToken", f"Missing {', '.join(missing)}.")
        access_key, scope_date, region, service, _ = (params["X-Amz-Credential"].split("/") + [""] * 5)[:5]
        identity = self.identities.get(access_key)
        if identity is None:
            raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        if params.get("X-Amz-Security-Token") != identity.session_token:
            raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        signed_at = datetime.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc
        )
        expires = int(params["X-Amz-Expires"])
        if datetime.datetime.now(datetime.timezone.utc) > signed_at + datetime.timedelta(seconds=expires):
            raise AwsError(403, "ExpiredToken", "Request has expired.")
        host = handler.headers.get("Host", "")
        request = AWSRequest(method="GET", url=f"https://{host}/?Action=GetCallerIdentity&Version=2011-06-15")
        for name in params["X-Amz-SignedHeaders"].split(";"):
            if name != "host":
                value = handler.headers.get(name)
                if value is None:
                    raise AwsError(403, "SignatureDoesNotMatch", f"Signed header {name} is missing.")
                request.headers[name] = value
        request.context["timestamp"] = params["X-Amz-Date"]
        signer = SigV4QueryAuth(
            Credentials(access_key, identity.secret_access_key, identity.session_token), service, region, expires=expires
        )
        # add_auth() would stamp the current time; sign at the token's own X-Amz-Date instead.
        signer._modify_request_before_signing(request)
        signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        expected = dict(parse_qsl(urlsplit(request.url).query))
        if expected.get("X-Amz-SignedHeaders") != params["X-Amz-SignedHeaders"] or not hmac.compare_digest(
            signature, params["X-Amz-Signature"]
        ):
            raise AwsError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided.")
        if service != "sts" or region != self.auth.region or scope_date != params["X-Amz-Date"][:8]:
            raise AwsError(403, "SignatureDoesNotMatch", "Credential scope is wrong.")
        return 200, {"GetCallerIdentityResponse": {
            "GetCallerIdentityResult": {"Arn": identity.arn, "Account": identity.arn.split(":")[4] or DEMO_ACCOUNT,
                                        "UserId": f"AROADEMO:{access_key}"},
            "ResponseMetadata": {"RequestId": str(uuid.uuid4())}}}

    # -- control -------------------------------------------------------------------------------

    def control(self, handler, method: str, path: str, body: bytes) -> None:
        rest = path[len(CONTROL_PREFIX):]
        with self.lock:
            if method == "PUT" and rest.startswith("secrets/"):
                self.secrets[unquote(rest[len("secrets/"):])] = (body.decode(), str(uuid.uuid4()))
            elif method == "PUT" and rest.startswith("parameters/"):
                name = unquote(rest[len("parameters/"):])
                self.parameters[name] = (body.decode(), self.parameters.get(name, ("", 0))[1] + 1)
            elif method == "POST" and rest == "fail":
                self.fail_status = json.loads(body or b"{}").get("status")
            elif method == "PUT" and rest.startswith("identities/"):
                spec = json.loads(body)
                self.identities[unquote(rest[len("identities/"):])] = Identity(
                    spec["secret_access_key"], spec["arn"], spec.get("session_token"))
            elif method == "GET" and rest == "calls":
                calls = dict(self.calls)
                return handler._send_json(200, calls)
            else:
                return handler._send_json(404, {"message": f"no emulator endpoint {method} {path}"})
        handler._send_json(200, {"status": "ok"})
