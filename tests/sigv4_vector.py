#!/usr/bin/env python3
"""SigV4 test vectors for src/upstream/sigv4.rs, computed independently by botocore.

Run: .venv/bin/python tests/sigv4_vector.py

For each case it signs a Bedrock Runtime request with botocore's SigV4Auth at a fixed clock
(2025-01-01T00:00:00Z) and fixed example credentials, then prints the canonical URI (to show
the second percent-encoding Bedrock expects: `%3A` in the path becomes `%253A`) and the
Authorization header. The Rust tests in src/upstream/sigv4.rs hardcode these Authorization values;
keep the cases here and there in step.
"""

import datetime
from unittest import mock
from urllib.parse import urlsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN//+="
REGION = "us-east-1"
SERVICE = "bedrock"
HOST = "bedrock-runtime.us-east-1.amazonaws.com"
FIXED_TIME = datetime.datetime(2025, 1, 1, 0, 0, 0)
BODY = b'{"messages":[]}'

# (name, path already percent-encoded once, extra headers, session token?[, host])
CASES = [
    (
        "no_session_token",
        "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
        {"content-type": "application/json"},
        False,
    ),
    (
        "with_session_token",
        "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
        {"content-type": "application/json"},
        True,
    ),
    (
        "colon_model_stream",
        "/model/meta.llama3-70b-instruct-v1%3A0/converse-stream",
        {
            "content-type": "application/json",
            "accept": "application/vnd.amazon.eventstream",
        },
        False,
    ),
    (
        "arn_inference_profile",
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile"
        "%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
        {"content-type": "application/json"},
        False,
    ),
    (
        "host_with_port",
        "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
        {"content-type": "application/json"},
        False,
        "127.0.0.1:8080",
    ),
]


def sign(path, headers, with_token, host=HOST):
    creds = Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN if with_token else None)
    auth = botocore.auth.SigV4Auth(creds, SERVICE, REGION)
    request = AWSRequest(
        method="POST", url=f"https://{host}{path}", headers=dict(headers), data=BODY
    )
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=FIXED_TIME):
        auth.add_auth(request)
    canonical_uri = auth._normalize_url_path(urlsplit(request.url).path)
    return canonical_uri, request.headers


def main():
    for name, path, headers, with_token, *host in CASES:
        canonical_uri, signed = sign(path, headers, with_token, *host)
        assert "%25" in canonical_uri, canonical_uri  # encoded twice in the canonical request
        print(f"# {name}")
        print(f"canonical_uri: {canonical_uri}")
        print(f"x-amz-date: {signed['X-Amz-Date']}")
        print(f"authorization: {signed['Authorization']}")
        print()


if __name__ == "__main__":
    main()
