"""Fleet mode's end-to-end harness (docs/fleet.md): moto's DynamoDB server as the shared
store, and several Envoy replicas with the filter (one worker each, so one writer each) on one
machine, all against the Bedrock emulator.

- `Store` runs `moto_server` (pinned in tests/requirements.txt) on a fixed loopback port,
  creates the table the way an operator would (botocore), and can be killed and restarted on
  the same port; moto keeps its data in memory, so a restart is a store that lost everything
  and the table is created again.
- `Replicas` starts Envoys from the shipped `envoy/envoy-fleet.yaml` on free ports, with its
  `dynamodb` cluster pointed at the store and `bedrock` at the emulator.
- `Store.usage` / `Store.rate` read the fleet's totals straight from the table.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import botocore.session
import httpx2
import pytest
import yaml
from botocore.config import Config as BotoConfig

from e2e_support import (
    DEMO_ACCESS_KEY_ID,
    DEMO_SECRET_ACCESS_KEY,
    REGION,
    START_TIMEOUT,
    STOP_TIMEOUT,
    WASM,
    Gateway,
    _wasm_filter,
    demo_env,
    envoy_binary,
    free_port,
    launch_envoy,
    render_envoy_config,
    stop_process,
    tail,
    wait_http,
)

REPO = Path(__file__).resolve().parents[2]
FLEET_YAML = REPO / "envoy" / "envoy-fleet.yaml"
TABLE = "bedrock-openai-fleet"
USAGE_FIELDS = ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def moto_binary() -> str:
    candidate = Path(envoy_binary()).parent / "moto_server"
    if not candidate.is_file():
        pytest.fail("no moto_server next to envoy: run `make venv` (installs the pinned moto[server])")
    return str(candidate)


def fleet_plugin_config() -> dict:
    """The plugin configuration JSON embedded in envoy/envoy-fleet.yaml."""
    _, wasm_filter = _wasm_filter(yaml.safe_load(FLEET_YAML.read_text()))
    return json.loads(wasm_filter["typed_config"]["config"]["configuration"]["value"])


def wait_until(what: str, probe: Callable[[], object], timeout: float = 10.0, interval: float = 0.05):
    """Poll `probe` until it returns something truthy (returned); fail after `timeout` seconds,
    saying what was awaited and what the last probe returned. Bounded waits for syncs only."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"waited {timeout}s for {what}; last: {last!r}")


def fresh_minute(needed: float = 10.0) -> None:
    """Rate-limit windows are aligned to the minute: a test that must stay in one window waits
    for the next minute when fewer than `needed` seconds of this one are left."""
    left = 60.0 - time.time() % 60.0
    if left < needed:
        time.sleep(left + 0.1)


# --------------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------------


@dataclass
class Store:
    """moto_server playing DynamoDB on a fixed loopback port."""

    port: int
    log: Path
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        return botocore.session.get_session().create_client(
            "dynamodb",
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=DEMO_ACCESS_KEY_ID,
            aws_secret_access_key=DEMO_SECRET_ACCESS_KEY,
            config=BotoConfig(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
        )

    def start(self) -> None:
        """Start moto (again, on the same port) and create the table: a fresh, empty store."""
        assert self.proc is None or self.proc.poll() is not None, "the store is already running"
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"--- moto start #{self.starts}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [moto_binary(), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=demo_env(),
            )
        client = self.client()

        def listening():
            if self.proc.poll() is not None:
                pytest.fail(f"moto_server exited with {self.proc.returncode}:\n{tail(self.log)}")
            try:
                return client.list_tables()["TableNames"] is not None
            except Exception:  # noqa: BLE001 - not up yet
                return False

        wait_until("moto_server to answer ListTables", listening, START_TIMEOUT, 0.1)
        self.create_table()

    def create_table(self) -> None:
        """The table as docs/fleet.md tells an operator to create it."""
        self.client().create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )

    def kill(self) -> None:
        """SIGKILL: the store vanishes mid-run (connections refused from now on)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def restart(self) -> None:
        self.start()

    # ---- reading the table -------------------------------------------------------------

    def items(self) -> list[dict]:
        client = self.client()
        found, start = [], None
        while True:
            page = client.scan(TableName=TABLE, **({"ExclusiveStartKey": start} if start else {}))
            found.extend(page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def usage(self, tenant: str) -> dict[str, dict[str, int]]:
        """Per model, the tenant's usage summed over every writer (and every usage window)."""
        totals: dict[str, dict[str, int]] = {}
        for item in self.items():
            if not item["pk"]["S"].startswith(f"usage|{tenant}|"):
                continue
            for model, counts in item.get("models", {}).get("M", {}).items():
                into = totals.setdefault(model, dict.fromkeys(USAGE_FIELDS, 0))
                for name in USAGE_FIELDS:
                    into[name] += int(counts["M"].get(name, {"N": "0"})["N"])
        return totals

    def usage_writers(self, tenant: str) -> set[str]:
        return {i["sk"]["S"] for i in self.items() if i["pk"]["S"].startswith(f"usage|{tenant}|")}

    def usage_regions(self, tenant: str) -> dict[str, set[str]]:
        """model → the regions the usage items record for it."""
        regions: dict[str, set[str]] = {}
        for item in self.items():
            if item["pk"]["S"].startswith(f"usage|{tenant}|"):
                for model, counts in item.get("models", {}).get("M", {}).items():
                    if "region" in counts["M"]:
                        regions.setdefault(model, set()).add(counts["M"]["region"]["S"])
        return regions

    def rate(self, tenant: str) -> dict[str, dict[str, int]]:
        """pk of every rate-limit item of the tenant → {"r", "t"} summed over writers and windows."""
        totals: dict[str, dict[str, int]] = {}
        for item in self.items():
            pk = item["pk"]["S"]
            if not pk.startswith("rl|") or pk.split("|")[2] != tenant:
                continue
            into = totals.setdefault(pk, {"r": 0, "t": 0})
            for name, value in item.items():
                if name.startswith("w_"):
                    into["r"] += int(value["M"]["r"]["N"])
                    into["t"] += int(value["M"]["t"]["N"])
        return totals


# --------------------------------------------------------------------------------------------
# the replicas
# --------------------------------------------------------------------------------------------


def fleet_section(replica: str, **overrides) -> dict:
    """The `fleet` section the tests use: short syncs, so that the file stays quick."""
    section = dict(fleet_plugin_config()["fleet"])
    section.update(sync_interval_ms=100, timeout_ms=300, stale_after_ms=600, replica=replica)
    section.update(overrides)
    return section


@dataclass
class Replicas:
    """Envoys with the filter, one worker thread each, started from envoy/envoy-fleet.yaml."""

    workdir: Path
    emulator_port: int
    store_port: int
    started: list[Gateway] = field(default_factory=list)
    routes_by_authority: dict[str, int] = field(default_factory=dict)

    def render(self, listener_port: int, admin_port: int, plugin_config: dict, access_log: Path) -> dict:
        config = render_envoy_config(
            listener_port=listener_port,
            admin_port=admin_port,
            upstream_port=self.emulator_port,
            plugin_config=plugin_config,
            access_log=access_log,
            envoy_yaml=FLEET_YAML,
        )
        clusters = config["static_resources"]["clusters"]
        (dynamodb,) = [c for c in clusters if c["name"] == "dynamodb"]
        dynamodb.pop("transport_socket", None)
        dynamodb["type"] = "STATIC"
        dynamodb["load_assignment"]["endpoints"] = [
            {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": self.store_port}}}}]}
        ]
        # Calls to another Bedrock region (a catalog `region`) go to their own emulator: the
        # filter rewrites :authority, which makes Envoy pick the route again.
        hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        for authority, port in self.routes_by_authority.items():
            name = "bedrock-" + authority.split(".")[0].removeprefix("bedrock-runtime-") + f"-{port}"
            routes.insert(0, {
                "match": {"prefix": "/", "headers": [{"name": ":authority", "string_match": {"exact": authority}}]},
                "route": {"cluster": name, "timeout": "60s"},
                "request_headers_to_remove": routes[-1].get("request_headers_to_remove", []),
            })
            clusters.append({
                "name": name,
                "type": "STATIC",
                "connect_timeout": "2s",
                "load_assignment": {"cluster_name": name, "endpoints": [
                    {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}
                ]},
            })
        return config

    def launch(self, name: str, plugin_config: dict, env: dict[str, str | None] | None = None) -> Gateway:
        """Start an Envoy without waiting for it (see `ready`)."""
        if not WASM.is_file():
            pytest.fail(f"the filter is not built: {WASM} is missing (make wasm)")
        listener_port, admin_port = free_port(), free_port()
        access_log = self.workdir / f"access-{name}.log"
        config = self.render(listener_port, admin_port, plugin_config, access_log)
        gateway = launch_envoy(
            self.workdir,
            name,
            config,
            listener_port=listener_port,
            admin_port=admin_port,
            plugin_config=plugin_config,
            access_log=access_log,
            env=env,
            concurrency=1,
        )
        self.started.append(gateway)
        return gateway

    @staticmethod
    def ready(gateway: Gateway) -> Gateway:
        wait_http(f"{gateway.admin_url}/ready", gateway.proc, gateway.log, f"envoy {gateway.name}")
        return gateway

    def start(self, name: str, plugin_config: dict, env: dict[str, str | None] | None = None) -> Gateway:
        return self.ready(self.launch(name, plugin_config, env))

    def start_set(self, prefix: str, plugin_config: dict | Callable[[str], dict], count: int = 3) -> list[Gateway]:
        """`count` replicas r1..rN started side by side; `plugin_config(replica)` may give each
        its own config."""
        gateways = []
        for i in range(1, count + 1):
            replica = f"r{i}"
            config = plugin_config(replica) if callable(plugin_config) else plugin_config
            gateways.append(self.launch(f"{prefix}-{replica}", config))
        return [self.ready(g) for g in gateways]

    def quit(self, gateway: Gateway) -> int:
        """Envoy's graceful stop (admin POST /quitquitquit); its exit status."""
        httpx2.post(f"{gateway.admin_url}/quitquitquit", timeout=5)
        return gateway.proc.wait(timeout=STOP_TIMEOUT * 3)

    def stop_all(self, gateways: list[Gateway] | None = None) -> None:
        for gateway in list(gateways if gateways is not None else self.started):
            stop_process(gateway.proc)
