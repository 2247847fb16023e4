"""The emulator's HTTP server: routes, request recording, Converse / ConverseStream answers on
the wire (with the transport faults scenarios ask for), the credential endpoints and the
``/_emulator/...`` inspection endpoints. See tests/emulator/README.md.

* ``POST /model/{modelId}/converse`` and ``POST /model/{modelId}/converse-stream``; ``modelId``
  arrives percent-encoded once and is decoded once. Anything else is ``404
  UnknownOperationException``.
* Converse: ``{"output": {"message": {"role": "assistant", "content": [...]}}, "stopReason",
  "usage", "metrics": {"latencyMs"}}`` with a ``x-amzn-RequestId`` (uuid4).
* ConverseStream: ``content-type: application/vnd.amazon.eventstream``, HTTP/1.1 chunked, one
  event-stream frame per chunk (flushed): ``messageStart`` ``{"role": "assistant"}``; one
  ``contentBlockDelta`` per word (``delta.text`` = the word plus the whitespace that follows
  it); ``contentBlockStop``; ``messageStop`` ``{"stopReason"}``; ``metadata`` ``{"usage",
  "metrics", "serviceTier"}``. Reasoning, text and toolUse blocks each get their own
  ``contentBlockIndex`` (``_stream_blocks``).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import struct
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import botocore.validate

from . import aws_services, embeddings, prompt_cache
from .answers import Answer, answer_for, last_user_text, sign
from .config import EmulatorConfig, config_from_env
from .embeddings import is_embedding_model, validate_call
from .credentials import IMDS_ROLE, issue_credentials, verify_auth, verify_gateway
from .errors import AUTH_ERRORS, BEDROCK_ERROR_NAMESPACE, CORAL_ERROR_NAMESPACE, BedrockError
from .eventstream import event_frame, exception_frame
from .scenarios import (
    RESET_GRACE_SECONDS,
    SPLIT_PAUSE,
    STREAM_ERROR_AFTER_DELTAS,
    Scenario,
    markdown_table,
    parse_scenario,
)
from .sigv4 import verify_sigv4
from .validation import validate_request

ROUTE = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|invoke)$")
# A custom Bedrock gateway (seed bedrock-proxy-custom-gateway.md): token header, no SigV4.
GATEWAY_ROUTE = re.compile(
    r"^/v1\.0/model/bedrock/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|invoke)$"
)


OPERATIONS = {"converse": "Converse", "converse-stream": "ConverseStream", "invoke": "InvokeModel"}


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, config: EmulatorConfig):
        super().__init__(address, Handler)
        self.config = config
        self.validator = botocore.validate.ParamValidator()
        self.aws = aws_services.AwsServices(config.auth, verify_sigv4, BedrockError)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BedrockEmulator/1.0"
    server: EmulatorServer

    # -- plumbing ------------------------------------------------------------------------------

    def log_message(self, fmt, *args):  # noqa: D401 - BaseHTTPRequestHandler signature
        if not self.server.config.quiet and not self.path.startswith("/_emulator/"):
            sys.stderr.write("bedrock-emulator: %s - %s\n" % (self.address_string(), fmt % args))

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        self._send(status, json.dumps(obj).encode("utf-8"), all_headers)

    def _send_error(self, err: BedrockError, request_id: str) -> None:
        config = self.server.config
        errortype = err.name
        if not config.plain_errortype:
            namespace = CORAL_ERROR_NAMESPACE if err.name in AUTH_ERRORS else BEDROCK_ERROR_NAMESPACE
            errortype = f"{err.name}:{namespace}"
        self._record_status(err.status, err.name)
        self._send_json(
            err.status,
            {"message": err.message},
            {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": errortype},
        )

    def _record_status(self, status: int, error: str | None = None) -> None:
        record = getattr(self, "_record", None)
        if record is not None:
            with self.server.config.lock:
                record["status"] = status
                if error:
                    record["error"] = error

    # -- entry points --------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._record = None
        body = self._read_body()
        raw_path = self.path
        path_only = urlsplit(raw_path).path
        config = self.server.config
        self._control_body = body
        if path_only.startswith("/_emulator/"):
            return self._inspection(method, path_only)
        if self._credentials_endpoint(method, path_only):
            return
        if self.server.aws.handles(method, path_only, self.headers):
            return self.server.aws.serve(self, method, body)

        request_id = str(uuid.uuid4())
        raw_headers = [(k, v) for k, v in self.headers.items()]
        headers: dict[str, str] = {}
        for k, v in raw_headers:
            headers[k.lower()] = f"{headers[k.lower()]}, {v}" if k.lower() in headers else v
        try:
            parsed_body: Any = json.loads(body) if body else None
        except ValueError:
            parsed_body = body.decode("utf-8", "replace")
        route = ROUTE.match(raw_path.split("?", 1)[0])
        gateway = False
        if route is None and config.gateway_token is not None:
            route = GATEWAY_ROUTE.match(raw_path.split("?", 1)[0])
            gateway = route is not None
        self._record = {
            "method": method,
            "path": raw_path,
            "headers": headers,
            "raw_headers": [list(h) for h in raw_headers],
            "body": parsed_body,
            "model_id": unquote(route.group("model")) if route else None,
            "operation": OPERATIONS[route.group("op")] if route else None,
            "status": None,
            "time": time.time(),
        }
        with config.lock:
            config.requests.append(self._record)

        try:
            if method != "POST" or not route:
                raise BedrockError(404, "UnknownOperationException", "Unknown operation")
            if gateway:
                verify_gateway(config, headers)
            else:
                verify_auth(config, method, raw_path, raw_headers, body)
            if route.group("op") == "invoke":
                return self._invoke(unquote(route.group("model")), body, headers, request_id)
            operation = OPERATIONS[route.group("op")]
            request = validate_request(
                config.model, self.server.validator, operation, unquote(route.group("model")), body
            )
            scenario = parse_scenario(last_user_text(request))
            early = scenario.error_before_answer(config.error_status)
            if early is not None:
                raise early
        except BedrockError as err:
            self._send_error(err, request_id)
            return

        if scenario.raw_status:
            # An answer from something in front of Bedrock: no x-amzn-ErrorType, not JSON.
            self._record_status(scenario.raw_status, "raw-status")
            return self._send(
                scenario.raw_status,
                b"<html><body>upstream gateway says no</body></html>",
                {"Content-Type": "text/html"},
            )
        if scenario.empty_status:
            # A bodyless answer (as Envoy's own 404 on a route miss would be).
            self._record_status(scenario.empty_status, "empty-status")
            return self._send(scenario.empty_status, b"", {})
        result = answer_for(request, scenario)
        self._cache_usage(result, request, unquote(route.group("model")), scenario)
        if route.group("op") == "converse":
            self._converse(result, scenario, request_id)
        else:
            self._converse_stream(result, scenario, request_id)

    # -- answers -------------------------------------------------------------------------------

    def _invoke(self, model_id: str, raw: bytes, headers: dict[str, str], request_id: str) -> None:
        """InvokeModel of an embedding model (embeddings.py); scenario markers in any of the
        call's texts apply to the call."""
        config = self.server.config
        validate_call(config.model, self.server.validator, model_id, raw, headers)
        if not is_embedding_model(model_id):
            raise BedrockError(400, "ValidationException", "The provided model identifier is invalid.")
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            raise BedrockError(400, "ValidationException", embeddings.MALFORMED)
        texts = embeddings.texts_of(model_id, request)
        scenario = parse_scenario(" ".join(texts))
        early = scenario.error_before_answer(config.error_status)
        if early is not None:
            raise early
        if scenario.reset:
            return self._reset_connection()
        if scenario.slow:
            time.sleep(scenario.slow)
        self._record_status(200)
        if scenario.bad_json:
            return self._send(200, b'{"embedding": [0.1, ', {"Content-Type": "application/json"})
        body, tokens = embeddings.answer(model_id, request, texts)
        self._send_json(
            200,
            body,
            {"x-amzn-RequestId": request_id, "X-Amzn-Bedrock-Input-Token-Count": str(tokens)},
        )

    def _cache_usage(self, result: Answer, request: dict, model_id: str, scenario: Scenario) -> None:
        """The prompt cache's share of the input (prompt_cache.py), or the scenario's."""
        if scenario.cache is not None:
            result.cache = scenario.cache
            return
        config = self.server.config
        with config.lock:
            counted = prompt_cache.account(request, model_id, config.prompt_cache)
        if counted is not None:
            result.cache = counted
            result.input_tokens -= sum(counted)

    def _reset_connection(self) -> None:
        """Abort the TCP connection: SO_LINGER 0 makes close() send RST, not FIN."""
        with self.server.config.lock:
            if self._record is not None:
                self._record["error"] = "reset"
        try:
            self.wfile.flush()
        except OSError:
            pass
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _converse(self, result: Answer, scenario: Scenario, request_id: str) -> None:
        started = time.monotonic()
        if scenario.reset:
            return self._reset_connection()
        if scenario.slow:
            time.sleep(scenario.slow)
        self._record_status(200)
        if scenario.bad_json:
            return self._send(
                200,
                b'{"output": {"message": {"role": "assistant", "content": [{"text": "cut',
                {"Content-Type": "application/json", "x-amzn-RequestId": request_id},
            )
        self._send_json(
            200,
            {
                "output": {"message": {"role": "assistant", "content": result.content_blocks()}},
                "stopReason": result.stop_reason,
                "usage": result.usage,
                "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
                **result.extras(),
            },
            {"x-amzn-RequestId": request_id},
        )

    def _write_chunk(self, data: bytes, delay: float) -> None:
        if delay:
            time.sleep(delay)
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _converse_stream(self, result: Answer, scenario: Scenario, request_id: str) -> None:
        started = time.monotonic()
        self._record_status(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", request_id)
        self.end_headers()
        self.wfile.flush()
        pending: list[bytes] = []  # frames held back for [scenario:coalesce]

        def send(frame: bytes) -> None:
            if scenario.coalesce:
                pending.append(frame)
            elif scenario.split:
                for at in range(0, len(frame), scenario.split):
                    self._write_chunk(frame[at : at + scenario.split], SPLIT_PAUSE)
            else:
                self._write_chunk(frame, scenario.slow)

        frames = 0

        def event(event_type: str, payload: dict) -> None:
            nonlocal frames
            send(event_frame(event_type, payload, frames))
            frames += 1

        try:
            event("messageStart", {"role": "assistant"})
            if not result.plain:
                self._stream_blocks(result, event, started)
                if pending:
                    self._write_chunk(b"".join(pending), scenario.slow)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            deltas = result.deltas()
            if scenario.stream_error:
                deltas = deltas[:STREAM_ERROR_AFTER_DELTAS]
            if scenario.corrupt or scenario.truncate:
                deltas = deltas[:STREAM_ERROR_AFTER_DELTAS]
            if scenario.reset:
                deltas = deltas[:STREAM_ERROR_AFTER_DELTAS]
            for piece in deltas:
                event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
            if scenario.reset:
                # Let the deltas reach Envoy first: a RST that overtakes them makes the kernel
                # drop unread data, and the test would depend on scheduling.
                time.sleep(RESET_GRACE_SECONDS)
                return self._reset_connection()
            if scenario.corrupt or scenario.truncate:
                frame = bytearray(
                    event_frame(
                        "contentBlockDelta",
                        {"contentBlockIndex": 0, "delta": {"text": "never delivered"}},
                        frames,
                    )
                )
                if scenario.truncate:
                    send(bytes(frame[: len(frame) // 2]))
                else:
                    # Flip one bit of the payload (message CRC fails) or of the prelude CRC
                    # itself; the lengths stay intact so a decoder still sees one frame.
                    frame[-6 if scenario.corrupt == "payload" else 11] ^= 0x01
                    send(bytes(frame))
                    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "after"}})
                if pending:
                    self._write_chunk(b"".join(pending), scenario.slow)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                with self.server.config.lock:
                    self._record["error"] = "truncated" if scenario.truncate else f"corrupt-{scenario.corrupt}"
                return
            if scenario.stream_error:
                message = f"Emulated model stream error after {len(deltas)} content deltas."
                payload = {"message": message}
                if scenario.stream_error == "modelStreamErrorException":
                    payload.update(originalStatusCode=500, originalMessage="Emulated model failure.")
                send(exception_frame(scenario.stream_error, payload))
                with self.server.config.lock:
                    self._record["error"] = scenario.stream_error
            else:
                event("contentBlockStop", {"contentBlockIndex": 0})
                event("messageStop", {"stopReason": result.stop_reason})
                event(
                    "metadata",
                    {
                        "usage": result.usage,
                        "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
                        **result.extras(),
                    },
                )
            if pending:
                self._write_chunk(b"".join(pending), scenario.slow)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- instance / container credentials ----------------------------------------------------

    def _credentials_endpoint(self, method: str, path: str) -> bool:
        """IMDSv2 and the container credentials endpoint; True when the path was one of them.
        Every credential fetch issues new keys (see issue_credentials)."""
        config = self.server.config
        imds_prefix = "/latest/meta-data/iam/security-credentials/"
        if path == "/latest/api/token":
            if method != "PUT" or not self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
                self._send(400, b"missing x-aws-ec2-metadata-token-ttl-seconds", {"Content-Type": "text/plain"})
                return True
            token = "imds-" + uuid.uuid4().hex
            with config.lock:
                config.imds_tokens.add(token)
            self._send(200, token.encode(), {"Content-Type": "text/plain"})
            return True
        if path.startswith(imds_prefix):
            with config.lock:
                known = self.headers.get("x-aws-ec2-metadata-token") in config.imds_tokens
            if method != "GET" or not known:
                self._send(401, b"", {"Content-Type": "text/plain"})
                return True
            role = path[len(imds_prefix) :]
            if role == "":
                self._send(200, IMDS_ROLE.encode(), {"Content-Type": "text/plain"})
            elif role == IMDS_ROLE:
                self._send_json(200, issue_credentials(config))
            else:
                self._send(404, b"Not Found", {"Content-Type": "text/plain"})
            return True
        if path.startswith("/v2/credentials/"):
            required = config.container_authorization
            if method != "GET" or (required and self.headers.get("authorization") != required):
                self._send_json(401, {"message": "unauthorized"})
                return True
            body = issue_credentials(config)
            body.pop("Code")
            body.pop("Type")
            self._send_json(200, body)
            return True
        return False

    @staticmethod
    def _stream_blocks(result: Answer, event, started: float) -> None:
        """Reasoning, redacted reasoning, a server tool's use and result, text and toolUse
        blocks, each with its own contentBlockIndex, as ConverseStream sends them: reasoning and
        text as word deltas (reasoning then its signature; a cited text's citation deltas before
        its words), redacted reasoning in one delta, a toolUse as contentBlockStart plus its
        input JSON in two fragments (a server tool's in one, its result as a toolResult start
        and delta)."""
        index = 0
        if result.reasoning is not None:
            for piece in re.findall(r"\S+\s*", result.reasoning):
                event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {"text": piece}}})
            event(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": sign(result.reasoning)}}},
            )
            event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        if result.redacted is not None:
            event(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"reasoningContent": {"redactedContent": result.redacted}}},
            )
            event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        if result.server_tool is not None:
            use, tool_result = result.server_tool
            start = {k: use[k] for k in ("toolUseId", "name", "type")}
            event("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": start}})
            raw = json.dumps(use["input"], separators=(",", ":"))
            event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": raw}}})
            event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
            start = {k: tool_result[k] for k in ("toolUseId", "type", "status")}
            event("contentBlockStart", {"contentBlockIndex": index, "start": {"toolResult": start}})
            event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolResult": tool_result["content"]}})
            event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        if result.text or not result.tool_uses:
            for citation in result.citations:
                event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"citation": citation}})
            for piece in result.deltas():
                event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
            event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        for tool in result.tool_uses:
            event(
                "contentBlockStart",
                {"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}},
            )
            raw = json.dumps(tool["input"], separators=(",", ":"))
            half = len(raw) // 2
            for piece in (raw[:half], raw[half:]):
                if piece:
                    event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}})
            event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        event("messageStop", {"stopReason": result.stop_reason})
        event(
            "metadata",
            {
                "usage": result.usage,
                "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
                **result.extras(),
            },
        )

    # -- inspection ----------------------------------------------------------------------------

    def _inspection(self, method: str, path: str) -> None:
        config = self.server.config
        if method == "GET" and path == "/_emulator/health":
            return self._send_json(200, {"status": "ok"})
        if method == "GET" and path == "/_emulator/requests":
            with config.lock:
                records = [dict(r) for r in config.requests]
            return self._send_json(200, records)
        if path.startswith(aws_services.CONTROL_PREFIX):
            return self.server.aws.control(self, method, path, self._control_body)
        if method == "GET" and path == "/_emulator/credentials":
            with config.lock:
                issued = [
                    {"access_key_id": k, "expires": c.expires, "valid": c.expires > time.time()}
                    for k, c in config.issued.items()
                ]
            return self._send_json(200, issued)
        if method == "POST" and path == "/_emulator/reset":
            with config.lock:
                config.requests.clear()
                config.prompt_cache.clear()
            return self._send_json(200, {"status": "reset"})
        return self._send_json(404, {"message": f"no emulator endpoint {method} {path}"})


def make_server(host: str, port: int, config: EmulatorConfig) -> EmulatorServer:
    return EmulatorServer((host, port), config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bedrock_emulator",
        description="A local Amazon Bedrock Runtime emulator (Converse, ConverseStream) for the "
        "filter's tests; see tests/emulator/README.md.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument("--region", default=None, help="default: $AWS_REGION or us-east-1")
    parser.add_argument(
        "--plain-errortype",
        action="store_true",
        help="send x-amzn-ErrorType as the bare exception name (Bedrock appends ':<namespace>')",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    parser.add_argument(
        "--gateway-token",
        default=None,
        help="serve the custom gateway paths with this authorization-token "
        "(default: $BEDROCK_GATEWAY_TOKEN; unset: no gateway paths)",
    )
    parser.add_argument(
        "--api-key", default=None, help="accept this Bedrock API key as a bearer token "
        "(default: $AWS_BEARER_TOKEN_BEDROCK)"
    )
    parser.add_argument(
        "--credential-ttl",
        type=float,
        default=None,
        help="seconds of life of IMDS / container credentials (default: "
        "$EMULATOR_CREDENTIAL_TTL or 3600)",
    )
    parser.add_argument(
        "--scenarios", action="store_true", help="print the scenario marker table (Markdown) and exit"
    )
    args = parser.parse_args(argv)
    if args.scenarios:
        print(markdown_table(), end="")
        return 0
    config = config_from_env(args.region, args.plain_errortype, args.quiet)
    if args.gateway_token:
        config.gateway_token = args.gateway_token
    if args.api_key:
        config.api_key = args.api_key
    if args.credential_ttl:
        config.credential_ttl = args.credential_ttl
    server = make_server(args.host, args.port, config)
    host, port = server.server_address[:2]
    print(f"bedrock-emulator listening on http://{host}:{port}", flush=True)
    print(
        f"bedrock-emulator: region {config.auth.region}, access key {config.auth.access_key_id}"
        + (", session token required" if config.auth.session_token else ""),
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
