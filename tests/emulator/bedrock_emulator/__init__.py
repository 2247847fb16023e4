"""A local Amazon Bedrock Runtime emulator (Converse, ConverseStream) plus the other AWS APIs
the filter calls (Secrets Manager, SSM, STS, IMDS / container credentials), standard library
plus botocore only. Documentation: tests/emulator/README.md.

Run it: ``python tests/emulator/bedrock_emulator --port 8787`` (or ``python -m bedrock_emulator``
with tests/emulator on ``PYTHONPATH``); the first stdout line is
``bedrock-emulator listening on http://HOST:PORT``.

Modules: server (HTTP, recording, /_emulator endpoints), sigv4 (botocore SigV4 check),
credentials (gateway token, API key, issued IMDS / container keys), validation (botocore's
ParamValidator + Bedrock's rules), answers (the deterministic answer), scenarios (the marker
table), eventstream (frame encoding), errors, config, aws_services.

The names below are the package's API for its own tests (tests/emulator) and for callers that
start it in-process. The e2e tests use only the constants: they state the answers they expect.
"""

from .answers import Answer, answer, answer_for, enrich, example_for, last_user_text
from .config import (
    DEFAULT_CREDENTIAL_TTL,
    DEFAULT_REGION,
    DEMO_ACCESS_KEY_ID,
    DEMO_SECRET_ACCESS_KEY,
    REQUEST_LOG_SIZE,
    EmulatorConfig,
    config_from_env,
)
from .errors import BEDROCK_ERROR_NAMESPACE, CORAL_ERROR_NAMESPACE, BedrockError
from .eventstream import encode_frame, event_frame, exception_frame
from .scenarios import DEFAULT_SLOW_DELAY, DEFAULT_SPLIT_SIZE, SCENARIOS, Scenario, parse_scenario
from .server import EmulatorServer, Handler, main, make_server
from .sigv4 import AuthConfig, verify_sigv4
from .validation import load_service_model

__all__ = [
    "Answer", "answer", "answer_for", "enrich", "example_for", "last_user_text",
    "DEFAULT_CREDENTIAL_TTL", "DEFAULT_REGION", "DEMO_ACCESS_KEY_ID", "DEMO_SECRET_ACCESS_KEY",
    "REQUEST_LOG_SIZE", "EmulatorConfig", "config_from_env",
    "BEDROCK_ERROR_NAMESPACE", "CORAL_ERROR_NAMESPACE", "BedrockError",
    "encode_frame", "event_frame", "exception_frame",
    "DEFAULT_SLOW_DELAY", "DEFAULT_SPLIT_SIZE", "SCENARIOS", "Scenario", "parse_scenario",
    "EmulatorServer", "Handler", "main", "make_server",
    "AuthConfig", "verify_sigv4", "load_service_model",
]
