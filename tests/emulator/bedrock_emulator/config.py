"""The emulator's settings: credentials it accepts, the service model, the other ways in, and
the shared state (recorded requests, issued credentials, prompt-cache prefixes) its handler
threads use under `lock`."""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass, field

import botocore.model

from .sigv4 import AuthConfig
from .validation import load_service_model

DEMO_ACCESS_KEY_ID = "AKIDEMOBEDROCKLOCAL0"
DEMO_SECRET_ACCESS_KEY = "demo-secret-key-for-the-local-bedrock-emulator"
DEFAULT_REGION = "us-east-1"
REQUEST_LOG_SIZE = 50
DEFAULT_CREDENTIAL_TTL = 3600.0


@dataclass
class EmulatorConfig:
    auth: AuthConfig
    model: botocore.model.ServiceModel
    plain_errortype: bool = False
    quiet: bool = False
    requests: deque = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Custom gateway token (None: gateway paths answer 404 like any unknown path).
    gateway_token: str | None = None
    # Bedrock API key accepted as `Authorization: Bearer` (None: bearer tokens are refused).
    api_key: str | None = None
    # Lifetime of the keys the IMDS / container endpoints issue; every fetch issues new ones.
    credential_ttl: float = DEFAULT_CREDENTIAL_TTL
    # Required `Authorization` on the container endpoint (None: not checked).
    container_authorization: str | None = None
    issued: dict = field(default_factory=dict)  # access key id → IssuedCredentials
    imds_tokens: set = field(default_factory=set)
    # Prompt-cache prefixes seen (prompt_cache.py), until POST /_emulator/reset.
    prompt_cache: set = field(default_factory=set)

    def error_status(self, name: str) -> int | None:
        try:
            shape = self.model.shape_for(name)
        except Exception:  # noqa: BLE001 - unknown names are allowed with an explicit status
            return None
        return shape.metadata.get("error", {}).get("httpStatusCode")


def config_from_env(region: str | None = None, plain_errortype: bool = False, quiet: bool = False) -> EmulatorConfig:
    auth = AuthConfig(
        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or DEMO_ACCESS_KEY_ID,
        secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or DEMO_SECRET_ACCESS_KEY,
        region=region or os.environ.get("AWS_REGION") or DEFAULT_REGION,
        session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
    )
    return EmulatorConfig(
        auth=auth,
        model=load_service_model(),
        plain_errortype=plain_errortype,
        quiet=quiet,
        gateway_token=os.environ.get("BEDROCK_GATEWAY_TOKEN") or None,
        api_key=os.environ.get("AWS_BEARER_TOKEN_BEDROCK") or None,
        credential_ttl=float(os.environ.get("EMULATOR_CREDENTIAL_TTL") or DEFAULT_CREDENTIAL_TTL),
        container_authorization=os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or None,
    )
