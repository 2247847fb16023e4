#!/usr/bin/env python3
"""Helpers that check what deploy/ ships, used by tests/deploy/test_deploy.py (`make deploy-check`).

Also a CLI for `make validate`:

    .venv/bin/python tests/deploy/check_deploy.py validate-envoy

runs `envoy --mode validate` on every shipped Envoy config (envoy/*.yaml and
deploy/**/envoy*.yaml), each with its Wasm path pointed at the built filter. Validation loads
the real filter and runs its `on_configure`, so a plugin configuration with an unknown or bad
field fails here exactly as it would at Envoy start.

Besides those, the module builds *equivalent* Envoy bootstraps for the Kubernetes homes — what
Istio and Envoy Gateway would hand their Envoy, assembled from our manifests the way those
control planes do it (see `istio_bootstrap` and `gateway_bootstrap`) — so that the Wasm
configuration in a manifest is checked by the same Envoy and the same filter.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
ENVOY = VENV_BIN / "envoy"
BUILT_WASM = ROOT / "target" / "wasm32-wasip1" / "release" / "bedrock_openai_filter.wasm"
DIST = ROOT / "dist"
DIST_WASM = DIST / "bedrock_openai_filter.wasm"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
STRING_VALUE = "type.googleapis.com/google.protobuf.StringValue"
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
# What the plugin reads from the environment when the config does not say (src/config.rs).
AWS_ENV_KEYS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"]
# The demo credentials the emulator checks signatures against (as envoy/run.sh uses them).
DEMO_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEMOBEDROCKLOCAL0",
    "AWS_SECRET_ACCESS_KEY": "demo-secret-key-for-the-local-bedrock-emulator",
    "AWS_REGION": "us-east-1",
}
# envoy/envoy-gateway.yaml's gateway listener reads its token from the environment.
VALIDATE_ENV = {"BEDROCK_GATEWAY_TOKEN": "validate"}
PLACEHOLDERS = {"WASM_SHA256", "OCI_IMAGE", "OCI_DIGEST"}


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def yaml_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def shipped_envoy_configs() -> list[Path]:
    """envoy/*.yaml and every deploy/**/envoy.yaml, envoy-*.yaml (Envoy bootstraps; not the
    Kubernetes manifests that merely start with "envoy", such as envoyfilter.yaml)."""
    bootstrap = re.compile(r"envoy(-[a-z0-9-]+)?\.yaml")
    deploy = [p for p in ROOT.glob("deploy/**/*.yaml") if bootstrap.fullmatch(p.name)]
    return sorted(ROOT.glob("envoy/*.yaml")) + sorted(deploy)


def k8s_manifests(base: Path) -> list[Path]:
    """The Kubernetes manifests under deploy/istio and deploy/envoy-gateway (or their rendering);
    not helm-values.yaml, which configures the Envoy Gateway install."""
    found = sorted(base.glob("istio/**/*.yaml")) + sorted(base.glob("envoy-gateway/**/*.yaml"))
    return [p for p in found if p.name != "helm-values.yaml"]


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"@([A-Z0-9_]+)@", text))


def wasm_for_tests() -> Path:
    """The filter Envoy should load: the cargo release build, else dist's copy."""
    for p in (BUILT_WASM, DIST_WASM):
        if p.is_file():
            return p
    raise FileNotFoundError("no built filter: run `make wasm` (or `make dist`) first")


# --------------------------------------------------------------------------------------------
# Envoy
# --------------------------------------------------------------------------------------------


def walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def wasm_plugin_configs(cfg: Any) -> list[dict]:
    """Every Wasm PluginConfig (the `config:` of a wasm filter) in an Envoy config."""
    return [
        n["config"]
        for n in walk(cfg)
        if n.get("@type") == WASM_TYPE and isinstance(n.get("config"), dict)
    ]


def point_wasm_at(cfg: Any, wasm: Path) -> int:
    """Rewrites every local Wasm code path to `wasm`; returns how many it rewrote."""
    n = 0
    for pc in wasm_plugin_configs(cfg):
        local = pc.get("vm_config", {}).get("code", {}).get("local")
        if local is not None:
            local.clear()
            local["filename"] = str(wasm)
            n += 1
    return n


def envoy_validate(cfg: dict | str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`envoy --mode validate` on a config (a dict is written to a temporary file)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "envoy.yaml"
        path.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg, sort_keys=False))
        return subprocess.run(
            [str(ENVOY), "--mode", "validate", "-c", str(path), "--log-level", "error"],
            env={**os.environ, **VALIDATE_ENV, **(env if env is not None else DEMO_ENV)},
            capture_output=True,
            text=True,
            timeout=120,
        )


def render_region(text: str, region: str) -> str:
    """What deploy/docker-compose/docker-compose.aws.yaml's command does to envoy-aws.yaml."""
    return text.replace("us-east-1", region)


def prepared_envoy_config(path: Path, wasm: Path, region: str | None = None) -> dict:
    text = path.read_text(encoding="utf-8")
    if region:
        text = render_region(text, region)
    cfg = yaml.safe_load(text)
    if point_wasm_at(cfg, wasm) == 0:
        raise AssertionError(f"{rel(path)}: no Wasm filter with local code")
    return cfg


# --------------------------------------------------------------------------------------------
# Istio: the EnvoyFilter as the sidecar would get it
# --------------------------------------------------------------------------------------------


def patches(envoyfilter: dict, apply_to: str) -> list[dict]:
    return [p for p in envoyfilter["spec"]["configPatches"] if p["applyTo"] == apply_to]


def istio_bootstrap(
    envoyfilter: dict,
    serviceentry: dict,
    wasm: Path,
    ecds_dir: Path,
    listen_port: int = 10000,
    admin_port: int = 9901,
    bedrock_upstream: tuple[str, int] | None = None,
    other_upstream: tuple[str, int] = ("127.0.0.1", 9),
    inline_ecds: bool = False,
) -> dict:
    """A static Envoy bootstrap shaped like Istio's outbound port-80 sidecar listener with our
    EnvoyFilter applied.

    The EXTENSION_CONFIG patch becomes an ECDS resource served from a file (Istio serves it over
    ADS, after the istio-agent has replaced the oci:// code with the downloaded file: here the
    built .wasm); the HTTP_FILTER patch goes before the router with its config source pointed at
    that file; route configuration "80" has the Bedrock virtual host named `<host>:80` (as Istio
    names it) with the VIRTUAL_HOST and HTTP_ROUTE patches merged in, and a catch-all virtual
    host for the pod's other outbound HTTP traffic. `bedrock_upstream` None keeps TLS to the
    ServiceEntry host on 443 (for validation); a (host, port) sends plain HTTP there instead
    (for a live run against the emulator). `inline_ecds` puts the extension config straight into
    the filter instead: `envoy --mode validate` does not fetch ECDS, so that is the variant in
    which validation loads the filter and checks its plugin configuration.
    """
    (ext,) = patches(envoyfilter, "EXTENSION_CONFIG")
    (flt,) = patches(envoyfilter, "HTTP_FILTER")
    vhost_patches = patches(envoyfilter, "VIRTUAL_HOST")
    route_patches = patches(envoyfilter, "HTTP_ROUTE")

    extension = copy.deepcopy(ext["patch"]["value"])
    pc = extension["typed_config"]["config"]
    pc["vm_config"]["code"] = {"local": {"filename": str(wasm)}}  # what istio-agent does
    ecds = ecds_dir / "ecds.yaml"
    ecds.write_text(
        yaml.safe_dump(
            {
                "version_info": "1",
                "resources": [
                    {"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", **extension}
                ],
            },
            sort_keys=False,
        )
    )
    http_filter = copy.deepcopy(flt["patch"]["value"])
    if inline_ecds:
        del http_filter["config_discovery"]
        http_filter["typed_config"] = extension["typed_config"]
    else:
        http_filter["config_discovery"]["config_source"] = {
            "path_config_source": {"path": str(ecds)},
            "initial_fetch_timeout": "0s",
        }

    host = serviceentry["spec"]["hosts"][0]
    vhost: dict = {"name": f"{host}:80", "domains": [host, f"{host}:80"], "routes": []}
    route: dict = {"name": "default", "match": {"prefix": "/"}, "route": {"cluster": "bedrock"}}
    for p in route_patches:
        deep_merge(route, p["patch"]["value"])
    vhost["routes"].append(route)
    for p in vhost_patches:
        deep_merge(vhost, p["patch"]["value"])
    other = {
        "name": "allow_any",
        "domains": ["*"],
        "routes": [{"name": "allow_any", "match": {"prefix": "/"}, "route": {"cluster": "other"}}],
    }

    if bedrock_upstream is None:
        port = next(p for p in serviceentry["spec"]["ports"] if p["number"] == 80)
        bedrock = dns_cluster("bedrock", host, port.get("targetPort", 443))
        bedrock["transport_socket"] = tls_socket(host)
    else:
        bedrock = static_cluster("bedrock", *bedrock_upstream)

    return {
        # ECDS needs a node identity; Istio's is sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local.
        "node": {"id": "sidecar~127.0.0.1~openai-client.bedrock-demo~bedrock-demo.svc.cluster.local",
                 "cluster": "openai-client.bedrock-demo"},
        "admin": {"address": sock("127.0.0.1", admin_port)},
        "static_resources": {
            "listeners": [
                {
                    "name": "0.0.0.0_80",
                    "address": sock("127.0.0.1", listen_port),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": HCM_TYPE,
                                        "stat_prefix": "outbound_0.0.0.0_80",
                                        "route_config": {"name": "80", "virtual_hosts": [vhost, other]},
                                        "http_filters": [http_filter, ROUTER],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [bedrock, static_cluster("other", *other_upstream)],
        },
    }


# --------------------------------------------------------------------------------------------
# Envoy Gateway: the EnvoyExtensionPolicy (+ EnvoyPatchPolicy) as the gateway's Envoy would get it
# --------------------------------------------------------------------------------------------


def eg_filter_name(policy: dict, index: int) -> str:
    """Envoy Gateway's HTTP filter name for wasm[index] of an EnvoyExtensionPolicy."""
    md = policy["metadata"]
    return f"envoy.filters.http.wasm/envoyextensionpolicy/{md['namespace']}/{md['name']}/wasm/{index}"


def eg_listener_name(gateway: dict, listener: str) -> str:
    md = gateway["metadata"]
    return f"{md['namespace']}/{md['name']}/{listener}"


def eg_wasm_filter(policy: dict, index: int, wasm: Path) -> dict:
    """The HTTP filter Envoy Gateway builds for wasm[index] (internal/xds/translator/wasm.go):
    disabled on the listener, enabled per route; code served from its own cache (here the
    built file); configuration = the `config` object as a JSON string; env.hostKeys as
    host_env_keys; no allow_on_headers_stop_iteration."""
    w = policy["spec"]["wasm"][index]
    md = policy["metadata"]
    vm: dict = {
        "vm_id": f"envoyextensionpolicy/{md['namespace']}/{md['name']}/wasm/{index}",
        "runtime": "envoy.wasm.runtime.v8",
        "code": {"local": {"filename": str(wasm)}},
    }
    if w.get("env", {}).get("hostKeys"):
        vm["environment_variables"] = {"host_env_keys": list(w["env"]["hostKeys"])}
    config: dict = {
        "name": w["name"],
        "vm_config": vm,
        "configuration": {"@type": STRING_VALUE, "value": json.dumps(w.get("config", {}))},
        "fail_open": bool(w.get("failOpen", False)),
    }
    if w.get("rootID"):
        config["root_id"] = w["rootID"]
    return {
        "name": eg_filter_name(policy, index),
        "disabled": True,
        "typed_config": {"@type": WASM_TYPE, "config": config},
    }


def eg_listener(gateway: dict, listener: str, policy: dict, wasm: Path, port: int, upstream: dict) -> dict:
    """The Envoy listener Envoy Gateway would produce for one Gateway listener whose only route
    has our EnvoyExtensionPolicy (proto field names, as EnvoyPatchPolicy sees them)."""
    filters = [eg_wasm_filter(policy, i, wasm) for i in range(len(policy["spec"]["wasm"]))]
    per_route = {
        f["name"]: {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "config": {}}
        for f in filters
    }
    return {
        "name": eg_listener_name(gateway, listener),
        "address": sock("127.0.0.1", port),
        "default_filter_chain": {
            "filters": [
                {
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": HCM_TYPE,
                        "stat_prefix": "http-80",
                        "stream_idle_timeout": upstream["stream_idle_timeout"],
                        "route_config": {
                            "name": eg_listener_name(gateway, listener),
                            "virtual_hosts": [
                                {
                                    "name": f"{eg_listener_name(gateway, listener)}/*",
                                    "domains": ["*"],
                                    "routes": [
                                        {
                                            "name": "httproute/openai/rule/0/match/0",
                                            "match": {"prefix": "/"},
                                            "route": {
                                                "cluster": "bedrock",
                                                "timeout": upstream["route_timeout"],
                                            },
                                            "typed_per_filter_config": per_route,
                                        }
                                    ],
                                }
                            ],
                        },
                        "http_filters": [*filters, ROUTER],
                    },
                }
            ]
        },
    }


def apply_eg_json_patch(document: dict, operation: dict) -> list[str]:
    """Envoy Gateway's EnvoyPatchPolicy JSONPatch with `jsonPath` + `path`
    (internal/utils/jsonpatch): every location the JSONPath selects, joined with `path`, gets
    the operation. Returns the JSON pointers it patched."""
    import jsonpath  # python-jsonpath: JSONPath, JSON Pointer and JSON Patch

    query = operation["jsonPath"]
    if not query.startswith("$"):
        query = "$" + query
    pointers = []
    for match in jsonpath.finditer(query, document):
        pointer = str(match.pointer()).rstrip("/")
        if operation.get("path"):
            pointer = pointer + "/" + operation["path"].lstrip("/")
        pointers.append(pointer)
    for pointer in pointers:
        patch = {"op": operation["op"], "path": pointer}
        if "value" in operation:
            patch["value"] = operation["value"]
        jsonpath.patch.apply([patch], document)
    return pointers


def gateway_bootstrap(
    docs: dict[str, dict],
    wasm: Path,
    listen_port: int = 10000,
    admin_port: int = 9901,
    bedrock_upstream: tuple[str, int] | None = None,
) -> tuple[dict, list[str]]:
    """A static Envoy bootstrap shaped like what Envoy Gateway gives its Envoy for our manifests,
    with the EnvoyPatchPolicy's patches applied to the listener. `docs` maps kind → manifest.
    Returns the bootstrap and the JSON pointers the patch policy changed."""
    gw, eep, epp = docs["Gateway"], docs["EnvoyExtensionPolicy"], docs["EnvoyPatchPolicy"]
    backend, route, ctp = docs["Backend"], docs["HTTPRoute"], docs["ClientTrafficPolicy"]
    listener_name = gw["spec"]["listeners"][0]["name"]
    timeouts = {
        "stream_idle_timeout": ctp["spec"]["timeout"]["http"]["streamIdleTimeout"],
        "route_timeout": route["spec"]["rules"][0]["timeouts"]["request"],
    }
    listener = eg_listener(gw, listener_name, eep, wasm, listen_port, timeouts)
    patched: list[str] = []
    for jp in epp["spec"]["jsonPatches"]:
        if jp["type"] == "type.googleapis.com/envoy.config.listener.v3.Listener" and jp["name"] == listener["name"]:
            patched += apply_eg_json_patch(listener, jp["operation"])
    if bedrock_upstream is None:
        ep = backend["spec"]["endpoints"][0]["fqdn"]
        bedrock = dns_cluster("bedrock", ep["hostname"], ep["port"])
        bedrock["transport_socket"] = tls_socket(docs["BackendTLSPolicy"]["spec"]["validation"]["hostname"])
    else:
        bedrock = static_cluster("bedrock", *bedrock_upstream)
    return (
        {
            "admin": {"address": sock("127.0.0.1", admin_port)},
            "static_resources": {"listeners": [listener], "clusters": [bedrock]},
        },
        patched,
    )


# --------------------------------------------------------------------------------------------
# Small Envoy building blocks
# --------------------------------------------------------------------------------------------


def sock(address: str, port: int) -> dict:
    return {"socket_address": {"address": address, "port_value": port}}


def static_cluster(name: str, host: str, port: int) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": sock(host, port)}}]}],
        },
    }


def dns_cluster(name: str, host: str, port: int) -> dict:
    c = static_cluster(name, host, port)
    c["type"] = "LOGICAL_DNS"
    c["dns_lookup_family"] = "V4_PREFERRED"
    return c


def tls_socket(host: str) -> dict:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": host,
            "common_tls_context": {
                "validation_context": {
                    "trusted_ca": {"filename": "/etc/ssl/certs/ca-certificates.crt"},
                    "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": host}}],
                }
            },
        },
    }


def deep_merge(dst: dict, src: dict) -> None:
    """Istio's MERGE of a patch value into a config object (maps merge, the rest replaces)."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Kubernetes schemas
# --------------------------------------------------------------------------------------------


def strict(schema: Any) -> Any:
    """Rejects unknown fields like `kubectl apply --validate=strict`: every object schema that
    lists properties and does not preserve unknown fields gets additionalProperties: false."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_schema(api_version: str, kind: str) -> dict | None:
    group, _, version = api_version.rpartition("/")
    path = SCHEMAS / f"{group}_{version}_{kind}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    # Every object has these; some CRD schemas (Istio's) list only spec and status.
    for field, sub in (("apiVersion", {"type": "string"}), ("kind", {"type": "string"}), ("metadata", {"type": "object"})):
        schema.setdefault("properties", {}).setdefault(field, sub)
    return strict(schema)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def validate_envoy_all() -> int:
    wasm = wasm_for_tests()
    failed = 0
    for path in shipped_envoy_configs():
        cfg = prepared_envoy_config(path, wasm)
        r = envoy_validate(cfg, {**DEMO_ENV, "AWS_ACCESS_KEY_ID": "AKIDVALIDATE"})
        status = "OK" if r.returncode == 0 else "FAILED"
        print(f"validate {rel(path)} (wasm: {rel(wasm)}): {status}")
        if r.returncode != 0:
            failed += 1
            print(r.stdout + r.stderr, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["validate-envoy"]:
        sys.exit(validate_envoy_all())
    print(__doc__, file=sys.stderr)
    sys.exit(2)
