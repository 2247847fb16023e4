"""End-to-end fixtures: the Bedrock emulator and real Envoy running the filter.

Session fixtures start the emulator (`python tests/emulator/bedrock_emulator`) on a free port and one Envoy
(`.venv/bin/envoy`) with `envoy/envoy.yaml` rendered onto free ports, the Wasm path made
absolute and the `bedrock` cluster pointed at the emulator; `start_gateway` starts further
Envoys with another plugin configuration or environment. Every process gets bounded waits and
is killed at the end; logs go to a temporary directory and their tails are attached to any
failing test's report. Knobs: `BEDROCK_FILTER_WASM`, `ENVOY_BIN`, `E2E_ENVOY_LOG_LEVEL`
(default `warn`), `E2E_KEEP_LOGS=1`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import pytest

from e2e_support import (
    EMULATOR_SCRIPT,
    LOG_TAIL_LINES,
    LOGS,
    START_TIMEOUT,
    WASM,
    Api,
    Emulator,
    Gateway,
    demo_env,
    free_port,
    launch_envoy,
    read_line,
    render_envoy_config,
    stop_process,
    tail,
    validate_exchange,
    wait_http,
)


_WORKDIR: list[Path] = []


@pytest.fixture(scope="session")
def workdir():
    """Logs and rendered configs; removed at the end of a green run (see pytest_sessionfinish)."""
    path = Path(tempfile.mkdtemp(prefix="bedrock-e2e-"))
    _WORKDIR.append(path)
    return path


@pytest.fixture(scope="session")
def start_emulator(workdir) -> Callable[..., Emulator]:
    """Factory: start_emulator(name, env=None) → a running emulator (`env` overrides the demo
    AWS environment it takes its expected credentials from; None removes a variable)."""
    started: list[Emulator] = []

    def start(name: str, env: dict[str, str | None] | None = None) -> Emulator:
        log = workdir / f"emulator-{name}.log"
        LOGS[f"emulator-{name}"] = log
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(EMULATOR_SCRIPT), "--host", "127.0.0.1", "--port", "0"],
                stdout=subprocess.PIPE,
                stderr=err,
                env=demo_env(**{"AWS_SESSION_TOKEN": None, **(env or {})}),
            )
        emulator = Emulator(url="", proc=proc, log=log)
        started.append(emulator)
        line = read_line(proc, START_TIMEOUT)
        if not line.startswith("bedrock-emulator listening on "):
            pytest.fail(f"emulator did not start (first line {line!r}):\n{tail(log)}")
        emulator.url = line.rsplit(" ", 1)[1]
        wait_http(f"{emulator.url}/_emulator/health", proc, log, f"emulator {name}")
        return emulator

    yield start
    for emulator in started:
        stop_process(emulator.proc)


@pytest.fixture(scope="session")
def emulator(start_emulator) -> Emulator:
    """The emulator behind the main gateway: demo credentials, no session token."""
    return start_emulator("main")


@pytest.fixture(scope="session")
def start_gateway(workdir, emulator) -> Callable[..., Gateway]:
    """Factory: start_gateway(name, plugin_config=None, env=None, upstream=None,
    route_timeout=None, stream_idle_timeout=None, clusters=None, request_timeout=None,
    request_headers_timeout=None) → a ready Envoy + filter.
    `plugin_config` replaces the plugin configuration JSON (None keeps envoy.yaml's); `env`
    overrides the demo AWS environment (None removes a variable); `upstream` is another Emulator
    (default: the main one; anything with a `url` will do, e.g. a closed port); the timeouts
    replace the shipped 15 minutes (request_timeout / request_headers_timeout the shipped
    slow-client bounds); `clusters` adds STATIC clusters by name → Emulator (e.g. an
    IMDS endpoint for `credentials_source`); `envoy_yaml` starts another shipped bootstrap of
    envoy.yaml's shape (e.g. envoy/envoy-native-signing.yaml). The access log goes to
    `gateway.access_log`."""
    if not WASM.is_file():
        pytest.fail(
            f"the filter is not built: {WASM} is missing. Build it with `make wasm` "
            "(cargo build --release --target wasm32-wasip1) before running the e2e suite."
        )
    started: list[Gateway] = []

    def start(
        name: str,
        plugin_config: dict | None = None,
        env: dict[str, str | None] | None = None,
        upstream: Emulator | None = None,
        route_timeout: str | None = None,
        stream_idle_timeout: str | None = None,
        clusters: dict[str, Emulator] | None = None,
        request_timeout: str | None = None,
        request_headers_timeout: str | None = None,
        envoy_yaml: Path | None = None,
    ) -> Gateway:
        upstream_port = int((upstream or emulator).url.rsplit(":", 1)[1])
        listener_port, admin_port = free_port(), free_port()
        access_log = workdir / f"access-{name}.log"
        config = render_envoy_config(
            listener_port=listener_port,
            admin_port=admin_port,
            upstream_port=upstream_port,
            plugin_config=plugin_config,
            access_log=access_log,
            route_timeout=route_timeout,
            stream_idle_timeout=stream_idle_timeout,
            request_timeout=request_timeout,
            request_headers_timeout=request_headers_timeout,
            extra_clusters={k: int(v.url.rsplit(":", 1)[1]) for k, v in (clusters or {}).items()},
            **({"envoy_yaml": envoy_yaml} if envoy_yaml else {}),
        )
        gateway = launch_envoy(
            workdir,
            name,
            config,
            listener_port=listener_port,
            admin_port=admin_port,
            plugin_config=plugin_config,
            access_log=access_log,
            env=env,
        )
        started.append(gateway)
        wait_http(f"{gateway.admin_url}/ready", gateway.proc, gateway.log, f"envoy {name}")
        return gateway

    yield start
    for gateway in started:
        stop_process(gateway.proc)


@pytest.fixture(scope="session")
def gateway(start_gateway) -> Gateway:
    """The demo configuration (envoy/envoy.yaml's plugin config, demo AWS environment)."""
    return start_gateway("main")


@pytest.fixture
def api(gateway, emulator):
    """SDK client on the main gateway; the emulator's request log starts empty; every
    recorded response is schema-validated at teardown."""
    emulator.reset()
    api = Api(gateway)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


# --------------------------------------------------------------------------------------------
# logs on failure
# --------------------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and LOGS:
        for name, path in LOGS.items():
            report.sections.append((f"{name} log (last {LOG_TAIL_LINES} lines of {path})", tail(path)))


def pytest_sessionfinish(session, exitstatus):
    for path in _WORKDIR:
        if exitstatus == 0 and not os.environ.get("E2E_KEEP_LOGS"):
            shutil.rmtree(path, ignore_errors=True)
        else:
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter:
                reporter.ensure_newline()
                reporter.write_line(f"e2e logs and rendered Envoy configs kept in {path}")
