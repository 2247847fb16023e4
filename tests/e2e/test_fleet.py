"""Fleet mode end to end (docs/fleet.md): three Envoy replicas with the filter (one worker
each, so one writer each) share rate limits and usage through a DynamoDB table played by
moto's server, against the Bedrock emulator. The store is killed and restarted mid-run.

Expected numbers are literal: the emulator counts words ("one two three four five" is 5 in,
"Echo: one two three four five" 6 out) and the limiter estimates a quarter of the text's
characters (23 → 6 tokens) before it settles the real 11. Tolerances are the one docs/fleet.md
states: between syncs each writer admits what it sees free, so the fleet may admit up to
(writers − 1) × (what one writer admits in one sync interval) over a limit. The clients here
pace themselves so that one writer admits at most one request per sync interval. Waits are
bounded waits for syncs, never assertions on time.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time

import httpx2
import pytest

import openai_schema
from e2e_support import HAIKU, LOGS, SONNET, Gateway, free_port, parse_sse
from fleet_support import Replicas, Store, fleet_plugin_config, fleet_section, fresh_minute, wait_until

SYNC_MS = 100
# A client sends one request every PACE seconds; the clients of the replicas are staggered by
# PACE / 3, so a writer admits at most one request per sync interval.
PACE = 0.6
WRITERS = 3
RPM = 9
TPM = 100
FIVE = "one two three four five"  # 5 words in, 6 out: 11 tokens; estimated 6 (23 chars)
WEST = "us-west-2"
SONNET_BASE = SONNET.removeprefix("us.")
HAIKU_BASE = HAIKU.removeprefix("us.")
KEYS = {
    "rpm": "sk-fleet-rpm-tenant-key",
    "tpm": "sk-fleet-tpm-tenant-key",
    "acct": "sk-fleet-accounting-key",
    "regional": "sk-fleet-regional-key",
    "outage": "sk-fleet-outage-tenant",
    "guarded": "sk-fleet-guarded-tenant",
    "free": "sk-fleet-free-tenant-key",
    "drain": "sk-fleet-drain-tenant-key",
}
LIMITS = {
    "rpm": {"requests_per_minute": RPM},
    "tpm": {"tokens_per_minute": TPM},
    "regional": {"requests_per_minute": 50},
    "outage": {"requests_per_minute": 1000},
    "guarded": {"requests_per_minute": 1000},
}
UNAVAILABLE_LOG = "fleet store unavailable"
AVAILABLE_LOG = "fleet store available again"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def plugin_config(replica: str | None, **fleet) -> dict:
    """envoy/envoy-fleet.yaml's plugin config with this file's tenants, Haiku called in
    us-west-2, and the fleet section for `replica` (None: no fleet section at all)."""
    config = fleet_plugin_config()
    config["tenants"] = {
        name: {"key_sha256": [sha(key)], **({"limits": LIMITS[name]} if name in LIMITS else {})}
        for name, key in KEYS.items()
    }
    config["models"] = [{"id": HAIKU_BASE, "region": WEST}]
    if replica is None:
        config.pop("fleet")
    else:
        config["fleet"] = fleet_section(replica, **{"sync_interval_ms": SYNC_MS, **fleet})
    return config


def chat(gateway: Gateway, key: str, text: str = "hi", model: str = SONNET, stream: bool = False) -> httpx2.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    r = httpx2.post(
        f"{gateway.base_url}/chat/completions", json=body, headers={"authorization": f"Bearer {KEYS[key]}"}, timeout=30
    )
    if r.status_code >= 400:
        openai_schema.validate_error(r.json())
    elif not stream:
        openai_schema.validate_completion(r.json())
    return r


def usage_of(gateway: Gateway, key: str) -> httpx2.Response:
    return httpx2.get(f"{gateway.base_url}/usage", headers={"authorization": f"Bearer {KEYS[key]}"}, timeout=10)


def totals(report: dict) -> tuple[int, int, int]:
    (tenant,) = report["data"]
    return tenant["requests"], tenant["input_tokens"], tenant["output_tokens"]


def log_count(gateway: Gateway, text: str) -> int:
    return gateway.log.read_text(errors="replace").count(text)


def paced_load(gateways: list[Gateway], key: str, attempts: int, text: str = "hi", pace: float = PACE) -> list[httpx2.Response]:
    """One client per replica, each sending `attempts` requests `pace` seconds apart, the
    clients staggered by pace / len(gateways); all run at once."""
    results: list[httpx2.Response] = []
    lock = threading.Lock()

    def client(i: int, gateway: Gateway) -> None:
        time.sleep(i * pace / len(gateways))
        for _ in range(attempts):
            started = time.monotonic()
            r = chat(gateway, key, text)
            with lock:
                results.append(r)
            time.sleep(max(0.0, pace - (time.monotonic() - started)))

    threads = [threading.Thread(target=client, args=(i, g)) for i, g in enumerate(gateways)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == attempts * len(gateways)
    return results


RESET = re.compile(r"^(?:(\d+)m)?(\d+(?:\.\d+)?)s$|^(\d+)ms$")


def reset_seconds(value: str) -> float:
    m = RESET.match(value)
    assert m, value
    if m.group(3):
        return int(m.group(3)) / 1000
    return int(m.group(1) or 0) * 60 + float(m.group(2))


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(workdir):
    store = Store(port=free_port(), log=workdir / "moto.log")
    LOGS["moto"] = store.log
    store.start()
    yield store
    store.stop()


@pytest.fixture(autouse=True)
def _store_back_after_each_test(request):
    """A test that failed between killing and restarting the store must not fail the next
    ones too: the store is started again (empty) if it is down."""
    yield
    if "store" in request.fixturenames:
        store = request.getfixturevalue("store")
        if store.proc is None or store.proc.poll() is not None:
            store.start()


@pytest.fixture(scope="module")
def west(start_emulator):
    """A second emulator playing Bedrock in us-west-2 (it checks the SigV4 region)."""
    return start_emulator("west", env={"AWS_REGION": WEST})


@pytest.fixture(scope="module")
def replicas(workdir, emulator, store, west):
    replicas = Replicas(
        workdir=workdir,
        emulator_port=int(emulator.url.rsplit(":", 1)[1]),
        store_port=store.port,
        routes_by_authority={f"bedrock-runtime.{WEST}.amazonaws.com": int(west.url.rsplit(":", 1)[1])},
    )
    yield replicas
    replicas.stop_all()


@pytest.fixture(scope="module")
def fleet(replicas) -> list[Gateway]:
    """Three replicas r1..r3 in fleet mode, failing open."""
    return replicas.start_set("open", lambda replica: plugin_config(replica))


@pytest.fixture(scope="module")
def closed(replicas) -> Gateway:
    """A fourth replica of the same fleet that fails closed."""
    return replicas.start("closed-r4", plugin_config("r4", on_store_failure="closed"))


# --------------------------------------------------------------------------------------------
# (a) request limits
# --------------------------------------------------------------------------------------------


def test_without_fleet_each_replica_admits_the_whole_limit(replicas, emulator):
    """The problem: three single-instance replicas admit the limit three times over."""
    alone = replicas.start_set("alone", lambda _: plugin_config(None))
    try:
        emulator.reset()
        results = paced_load(alone, "rpm", attempts=RPM + 1, pace=0.0)
        admitted = sum(r.status_code == 200 for r in results)
        assert admitted == WRITERS * RPM
        assert len(emulator.bedrock_requests()) == WRITERS * RPM
    finally:
        replicas.stop_all(alone)


def test_request_limit_holds_across_the_fleet(fleet, store, emulator):
    fresh_minute(needed=PACE * 6 + 5)
    emulator.reset()
    results = paced_load(fleet, "rpm", attempts=5)
    admitted = [r for r in results if r.status_code == 200]
    refused = [r for r in results if r.status_code == 429]
    assert len(admitted) + len(refused) == len(results), [r.status_code for r in results]
    # At least the limit, at most the limit plus the documented tolerance (1 per other writer).
    assert RPM <= len(admitted) <= RPM + (WRITERS - 1) * 1, len(admitted)
    assert len(emulator.bedrock_requests()) == len(admitted), "a refused request reached Bedrock"
    for r in results:
        assert r.headers["x-ratelimit-limit-requests"] == str(RPM)
        assert 0 < reset_seconds(r.headers["x-ratelimit-reset-requests"]) <= 60
        assert "x-ratelimit-limit-tokens" not in r.headers
    for r in admitted:
        assert 0 <= int(r.headers["x-ratelimit-remaining-requests"]) < RPM
    for r in refused:
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert r.json()["error"]["code"] == "rate_limit_exceeded_requests"
        assert r.headers["x-ratelimit-remaining-requests"] == "0"
        assert 1 <= int(r.headers["retry-after"]) <= 60
    # Every writer's count reaches the store: the fleet's count is what was admitted.
    pk = f"rl|us-east-1|rpm|{SONNET_BASE}"
    wait_until("the admitted requests in the store", lambda: store.rate("rpm").get(pk, {}).get("r") == len(admitted))


# --------------------------------------------------------------------------------------------
# (b) token limits
# --------------------------------------------------------------------------------------------


def test_token_limit_holds_across_the_fleet(fleet, store):
    """TPM 100 at 11 tokens a request (admitted on an estimate of 6): one writer alone admits
    9 (88 + 6 <= 100, 99 + 6 > 100); the fleet 9 plus at most one per other writer."""
    fresh_minute(needed=PACE * 6 + 5)
    results = paced_load(fleet, "tpm", attempts=5, text=FIVE)
    admitted = [r for r in results if r.status_code == 200]
    refused = [r for r in results if r.status_code == 429]
    assert len(admitted) + len(refused) == len(results), [r.status_code for r in results]
    assert 9 <= len(admitted) <= 9 + (WRITERS - 1) * 1, len(admitted)
    for r in admitted:
        assert r.json()["usage"]["total_tokens"] == 11
    for r in results:
        assert r.headers["x-ratelimit-limit-tokens"] == str(TPM)
        assert "x-ratelimit-limit-requests" not in r.headers
    for r in refused:
        assert r.json()["error"]["code"] == "rate_limit_exceeded_tokens"
        assert int(r.headers["x-ratelimit-remaining-tokens"]) < 6
    # The store holds the settled cost (11 each), not the estimates.
    pk = f"rl|us-east-1|tpm|{SONNET_BASE}"
    wait_until("the settled tokens in the store", lambda: store.rate("tpm").get(pk) == {"r": len(admitted), "t": 11 * len(admitted)})


# --------------------------------------------------------------------------------------------
# (c) usage
# --------------------------------------------------------------------------------------------


def test_usage_on_any_replica_is_the_fleet_total(fleet, store):
    texts = ["alpha beta", FIVE, "gamma", "delta epsilon zeta"]
    seen = [0, 0, 0]  # requests, prompt tokens, completion tokens, as the clients saw them
    for i, gateway in enumerate(fleet):
        for j, text in enumerate(texts[: i + 2]):
            r = chat(gateway, "acct", text, stream=(j == 1))
            assert r.status_code == 200
            if j == 1:
                usage = [json.loads(d) for d in parse_sse(r.content) if d != "[DONE]"][-1]["usage"]
            else:
                usage = r.json()["usage"]
            seen = [seen[0] + 1, seen[1] + usage["prompt_tokens"], seen[2] + usage["completion_tokens"]]
    # 2 + 3 + 4 requests; words in: 7 + 8 + 11, out one more each.
    assert seen == [9, 26, 35]
    for gateway in fleet:
        report = wait_until(
            f"{gateway.name}'s /v1/usage to show the fleet total",
            lambda: (lambda b: b if totals(b) == tuple(seen) else None)(usage_of(gateway, "acct").json()),
        )
        assert report["fleet"]["writers"] == WRITERS
        assert report["fleet"]["sync_interval_ms"] == SYNC_MS
        assert "stale" not in report["fleet"]
        assert abs(report["fleet"]["as_of"] - time.time()) < 60
        (model,) = report["data"][0]["models"]
        assert model["model"] == SONNET_BASE and model["region"] == "us-east-1"
    wait_until("the fleet total in the store", lambda: store.usage("acct").get(SONNET_BASE, {}).get("requests") == 9)
    stored = store.usage("acct")[SONNET_BASE]
    assert (stored["requests"], stored["input_tokens"], stored["output_tokens"], stored["errors"]) == (9, 26, 35, 0)
    assert sorted(w.split("-")[0] for w in store.usage_writers("acct")) == ["r1", "r2", "r3"]


# --------------------------------------------------------------------------------------------
# (e) regions
# --------------------------------------------------------------------------------------------


def test_limits_and_usage_are_keyed_by_the_region_called(fleet, store, emulator, west):
    emulator.reset()
    west.reset()
    for gateway in fleet[:2]:
        assert chat(gateway, "regional", "east", model="gpt-4o").status_code == 200
    for gateway in fleet:
        r = chat(gateway, "regional", "west", model="gpt-4o-mini")
        assert r.status_code == 200
        assert r.headers["x-ratelimit-limit-requests"] == "50"
    assert len(west.bedrock_requests()) == 3 and len(emulator.bedrock_requests()) == 2
    east_pk, west_pk = f"rl|us-east-1|regional|{SONNET_BASE}", f"rl|{WEST}|regional|{HAIKU_BASE}"
    wait_until(
        "one rate-limit item per region",
        lambda: {k: v["r"] for k, v in store.rate("regional").items()} == {east_pk: 2, west_pk: 3},
    )
    wait_until("usage regions in the store", lambda: store.usage_regions("regional") == {SONNET_BASE: {"us-east-1"}, HAIKU_BASE: {WEST}})
    models = {m["model"]: m for m in usage_of(fleet[2], "regional").json()["data"][0]["models"]}
    assert models[HAIKU_BASE]["region"] == WEST and models[SONNET_BASE]["region"] == "us-east-1"


# --------------------------------------------------------------------------------------------
# (d) the store killed and restarted
# --------------------------------------------------------------------------------------------


def unavailable_metric(gateway: Gateway) -> int:
    stats = httpx2.get(f"{gateway.admin_url}/stats", params={"filter": "fleet_store_unavailable"}, timeout=5).text
    values = [int(line.rsplit(":", 1)[1]) for line in stats.splitlines() if "fleet_store_unavailable" in line]
    return sum(values)


def test_store_outage_fails_open_and_loses_nothing(fleet, store):
    accepted: list[httpx2.Response] = []

    def send_round() -> None:
        for gateway in fleet:
            r = chat(gateway, "outage", FIVE)
            assert r.status_code == 200, r.text
            accepted.append(r)

    send_round()
    send_round()
    wait_until("the first rounds in the store", lambda: store.usage("outage").get(SONNET_BASE, {}).get("requests") == 6)
    before = [log_count(g, UNAVAILABLE_LOG) for g in fleet]
    store.kill()
    # Requests keep being served while the replicas notice (stale_after_ms) and after.
    wait_until(
        "every replica to log the store unavailable",
        lambda: send_round() or all(log_count(g, UNAVAILABLE_LOG) > b for g, b in zip(fleet, before)),
        timeout=15,
        interval=SYNC_MS / 1000,
    )
    for _ in range(3):
        send_round()
    for gateway, b in zip(fleet, before):
        assert log_count(gateway, UNAVAILABLE_LOG) == b + 1, f"{gateway.name}: one warning per transition"
        assert unavailable_metric(gateway) > 0
    # /v1/usage without the store: this replica's own view, marked stale.
    own = usage_of(fleet[0], "outage")
    assert own.status_code == 200
    assert own.json()["fleet"]["stale"] is True
    assert totals(own.json())[0] == len(accepted) // WRITERS
    store.restart()
    n = len(accepted)
    expected = (n, 5 * n, 6 * n)
    # Every writer writes its absolute totals again: nothing lost, nothing counted twice.
    wait_until(
        "the store to hold everything accepted",
        lambda: (lambda u: u and (u["requests"], u["input_tokens"], u["output_tokens"]) == expected)(store.usage("outage").get(SONNET_BASE)),
    )
    for gateway in fleet:
        report = wait_until(
            f"{gateway.name}'s /v1/usage to show the fleet total again",
            lambda: (lambda b: b if totals(b) == expected and "stale" not in b["fleet"] else None)(usage_of(gateway, "outage").json()),
        )
        assert report["fleet"]["writers"] == WRITERS
    for gateway, b in zip(fleet, before):
        assert log_count(gateway, UNAVAILABLE_LOG) == b + 1
        assert log_count(gateway, AVAILABLE_LOG) >= 1


def test_store_outage_fails_closed_with_503(closed, store):
    accepted = [chat(closed, "guarded", FIVE), chat(closed, "free", FIVE)]
    assert [r.status_code for r in accepted] == [200, 200]
    wait_until("the first requests in the store", lambda: store.usage("guarded").get(SONNET_BASE, {}).get("requests") == 1)
    store.kill()
    statuses: list[int] = []

    def refused() -> bool:
        r = chat(closed, "guarded", FIVE)
        statuses.append(r.status_code)
        if r.status_code == 200:
            accepted.append(r)
            return False
        return r

    r = wait_until("a limited request to be refused", refused, timeout=15, interval=SYNC_MS / 1000)
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert (error["type"], error["code"]) == ("service_unavailable_error", "limit_store_unavailable")
    assert set(statuses[:-1]) <= {200}
    # A tenant without limits does not depend on the store.
    free = chat(closed, "free", FIVE)
    assert free.status_code == 200
    accepted.append(free)
    assert usage_of(closed, "guarded").status_code == 503
    store.restart()
    back = wait_until("limited requests admitted again", lambda: (lambda r: r if r.status_code == 200 else None)(chat(closed, "guarded", FIVE)))
    accepted.append(back)
    guarded = sum(r.status_code == 200 for r in accepted) - 2  # the two "free" ones
    wait_until(
        "the store to hold every accepted request",
        lambda: (lambda u: u and (u["requests"] - u["errors"], u["input_tokens"]) == (guarded, 5 * guarded))(store.usage("guarded").get(SONNET_BASE)),
    )
    wait_until("the free tenant's usage in the store", lambda: store.usage("free").get(SONNET_BASE, {}).get("requests") == 2)


# --------------------------------------------------------------------------------------------
# (f) stopping Envoy
# --------------------------------------------------------------------------------------------


def test_envoy_stop_cancels_the_on_done_flush(replicas, store):
    """What a stop loses, pinned. On /quitquitquit (or SIGTERM: the same shutdown) Envoy 1.40
    calls the root context's on_done only after the worker's event loop has exited; the filter
    dispatches its flush and returns false, but Envoy destroys the VM at once and cancels the
    call (seen at trace level: proxy_on_done → proxy_http_call → "cancelling pending stream").
    So a stop loses what a crash loses, the counts of the last sync interval; docs/fleet.md
    says to drain first (/drain_listeners?graceful, then wait one sync interval). If this
    starts failing, Envoy now waits for on_done: assert the flush instead."""
    drain = replicas.start("drain-r5", plugin_config("r5", sync_interval_ms=60_000))
    # Its first sync comes on its first tick; once that has written something, the next is a
    # minute away.
    assert chat(drain, "free", "first").status_code == 200
    wait_until("the first sync", lambda: any(w.startswith("r5-") for w in store.usage_writers("free")))
    for text in ("alpha", FIVE):
        assert chat(drain, "drain", text).status_code == 200
    assert store.usage("drain") == {}, "flushed before the stop"
    assert replicas.quit(drain) == 0
    # The process has exited: nothing of it can still reach the store.
    assert store.usage("drain") == {}
