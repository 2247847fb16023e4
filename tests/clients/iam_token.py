#!/usr/bin/env python3
"""Make an IAM bearer token for the filter's `iam_auth`: a presigned sts:GetCallerIdentity URL,
`k8s-aws-v1.` + base64url without padding — the format of `aws eks get-token`.

    python tests/clients/iam_token.py [--region us-east-1] [--audience bedrock-openai] [--expires 60]

prints the token for the current AWS credentials (environment, profile, instance role, …).
Use it as the API key:

    OpenAI(base_url="https://gateway/v1", api_key=iam_token(audience="bedrock-openai"))

Only botocore is needed. Tokens are good for `expires` seconds (at most 900; the filter also
caches a verified token for up to `iam_auth.cache_seconds`).
"""

from __future__ import annotations

import argparse
import base64

import botocore.session
from botocore.signers import RequestSigner

PREFIX = "k8s-aws-v1."


def iam_token(
    region: str = "us-east-1",
    audience: str | None = None,
    expires: int = 60,
    session: botocore.session.Session | None = None,
    sts_host: str | None = None,
) -> str:
    session = session or botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials found")
    sts = session.create_client("sts", region_name=region)
    signer = RequestSigner(
        sts.meta.service_model.service_id, region, "sts", "v4", credentials, sts.meta.events
    )
    host = sts_host or f"sts.{region}.amazonaws.com"
    params = {
        "method": "GET",
        "url": f"https://{host}/?Action=GetCallerIdentity&Version=2011-06-15",
        "body": {},
        "headers": {"x-k8s-aws-id": audience} if audience else {},
        "context": {},
    }
    url = signer.generate_presigned_url(params, region_name=region, expires_in=expires, operation_name="")
    return PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--audience", default=None, help="iam_auth.audience, if the gateway sets one")
    parser.add_argument("--expires", type=int, default=60)
    args = parser.parse_args()
    print(iam_token(args.region, args.audience, args.expires))


if __name__ == "__main__":
    main()
