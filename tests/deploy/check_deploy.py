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

`hardening_problems` says what an Envoy config lacks of the hardening every shipped config must
have (slow-client timeouts, an access-logged path that a client cannot forge, rate-limit
descriptor headers kept from the upstream); `envoy_bootstraps` and `manifest_homes` find the
configs to check by looking, so a new file is covered without being listed.
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
# What the plugin reads from the environment when the config does not say (src/config/mod.rs).
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
    hcm_patches = [p for p in patches(envoyfilter, "NETWORK_FILTER") if hcm_patch_matches(p, flt)]

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

    hcm: dict = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": HCM_TYPE,
            "stat_prefix": "outbound_0.0.0.0_80",
            "route_config": {"name": "80", "virtual_hosts": [vhost, other]},
            "http_filters": [http_filter, ROUTER],
        },
    }
    for p in hcm_patches:
        deep_merge(hcm, p["patch"]["value"])

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
                    "filter_chains": [{"filters": [hcm]}],
                }
            ],
            "clusters": [bedrock, static_cluster("other", *other_upstream)],
        },
    }


def hcm_patch_matches(network_patch: dict, http_filter_patch: dict) -> bool:
    """Whether an EnvoyFilter NETWORK_FILTER patch MERGEs into the HTTP connection manager of
    the listener the HTTP_FILTER patch puts our filter in (same context and port, the HCM)."""
    if network_patch["patch"].get("operation") != "MERGE":
        return False
    m, f = network_patch.get("match", {}), http_filter_patch.get("match", {})
    listener = m.get("listener", {})
    return (
        m.get("context") == f.get("context")
        and listener.get("portNumber") == f.get("listener", {}).get("portNumber")
        and listener.get("filterChain", {}).get("filter", {}).get("name") == "envoy.filters.network.http_connection_manager"
        and "subFilter" not in listener.get("filterChain", {}).get("filter", {})
    )


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
                        **upstream["hcm"],
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


# Envoy Gateway's access log when its EnvoyProxy sets none (internal/gatewayapi/listener.go
# processAccessLog → internal/xds/translator/accesslog.go EnvoyJSONLogFields), abridged: the
# fields that matter here.
EG_DEFAULT_ACCESS_LOG_JSON = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "x-envoy-origin-path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "response_code": "%RESPONSE_CODE%",
    "x-request-id": "%REQ(X-REQUEST-ID)%",
}


def eg_client_timeouts(ctp: dict | None, gateway: dict, listener: str) -> dict:
    """The HCM fields Envoy Gateway sets from a ClientTrafficPolicy's timeout.http
    (internal/xds/translator/listener.go): requestReceivedTimeout → request_timeout,
    requestHeadersReceivedTimeout → request_headers_timeout, streamIdleTimeout →
    stream_idle_timeout; only when the policy targets this Gateway (and listener)."""
    if ctp is None:
        return {}
    targets = ctp["spec"].get("targetRefs") or [ctp["spec"].get("targetRef", {})]
    if not any(
        t.get("kind") == "Gateway" and t.get("name") == gateway["metadata"]["name"]
        and t.get("sectionName", listener) == listener
        for t in targets
    ):
        return {}
    http = ctp["spec"].get("timeout", {}).get("http", {})
    fields = {"streamIdleTimeout": "stream_idle_timeout", "requestReceivedTimeout": "request_timeout",
              "requestHeadersReceivedTimeout": "request_headers_timeout"}
    return {envoy: http[eg] for eg, envoy in fields.items() if eg in http}


def eg_access_logs(envoy_proxy: dict | None) -> list[dict]:
    """The HCM access logs Envoy Gateway builds from an EnvoyProxy's telemetry.accessLog: its
    default JSON log on stdout when none is set, nothing when disabled, else one file log per
    File sink (JSON or text format)."""
    al = ((envoy_proxy or {}).get("spec", {}).get("telemetry") or {}).get("accessLog")
    if al is not None and al.get("disable"):
        return []
    settings = (al or {}).get("settings") or [{"format": {"type": "JSON", "json": EG_DEFAULT_ACCESS_LOG_JSON}}]
    logs = []
    for s in settings:
        fmt = s.get("format") or {"type": "JSON"}
        if fmt.get("type") == "Text":
            log_format = {"text_format_source": {"inline_string": fmt["text"]}}
        else:
            log_format = {"json_format": fmt.get("json") or EG_DEFAULT_ACCESS_LOG_JSON}
        sinks = s.get("sinks") or [{"type": "File", "file": {"path": "/dev/stdout"}}]
        for sink in sinks:
            if sink.get("type") == "File":
                logs.append({
                    "name": "envoy.access_loggers.file",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                        "path": sink["file"]["path"],
                        "log_format": log_format,
                    },
                })
    return logs


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
    backend, route = docs["Backend"], docs["HTTPRoute"]
    listener_name = gw["spec"]["listeners"][0]["name"]
    timeouts = {
        "hcm": {**eg_client_timeouts(docs.get("ClientTrafficPolicy"), gw, listener_name),
                "access_log": eg_access_logs(docs.get("EnvoyProxy"))},
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
# Hardening: what every HTTP connection manager we ship must have
# --------------------------------------------------------------------------------------------

# Slow clients: a bound on receiving the headers, and on receiving the whole request.
MAX_REQUEST_TIMEOUT_S = 300.0
# The path the filter received (before its rewrite), recorded by the filter as filter state.
PATH_FILTER_STATE = "%FILTER_STATE(wasm.bedrock_path:PLAIN)%"
# Request headers the filter sets for Envoy's ratelimit filter with "rate_limit_descriptors".
DESCRIPTOR_HEADERS = ("x-bedrock-tenant", "x-bedrock-model-id", "x-bedrock-token-estimate")
# Access-log command operators that print a request path taken from the request's headers.
HEADER_PATH_OPERATOR = re.compile(
    r"%(REQ|REQ_WITHOUT_QUERY|REQUEST_HEADER|TRAILER)\([^)]*PATH[^)]*\)|%PATH(\(|%)", re.I
)
# Where Envoy bootstraps and Kubernetes manifests are looked for: the whole repository except
# build outputs and tools' own files (dist/ is checked through its rendered manifests).
SKIP_DIRS = {".git", ".venv", ".venv-bench", "target", "dist", ".run", "node_modules", "fuzz", "schemas", "__pycache__"}


def repo_yaml_files(root: Path = ROOT) -> list[Path]:
    """Every .yaml / .yml file under `root` outside SKIP_DIRS, so that a new file is covered
    without being listed anywhere."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        out += [Path(dirpath) / f for f in sorted(filenames) if f.endswith((".yaml", ".yml"))]
    return out


def safe_yaml_docs(path: Path) -> list:
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError:
        return []


def envoy_bootstraps(root: Path = ROOT) -> list[Path]:
    """Every YAML file that is an Envoy bootstrap (has static_resources or dynamic_resources):
    envoy/*.yaml, deploy/docker-compose/envoy*.yaml, bench/*.yaml and any file added later."""
    return [
        p for p in repo_yaml_files(root)
        if any(isinstance(d, dict) and ({"static_resources", "dynamic_resources"} & d.keys()) for d in safe_yaml_docs(p))
    ]


def manifest_homes(base: Path) -> dict[str, list[Path]]:
    """Directories under `base` holding Kubernetes manifests that put the filter into an Envoy:
    {"istio": [dirs with an EnvoyFilter], "envoy-gateway": [dirs with an EnvoyExtensionPolicy]}."""
    homes: dict[str, list[Path]] = {"istio": [], "envoy-gateway": []}
    for p in repo_yaml_files(base) if base.is_dir() else []:
        kinds = {d.get("kind") for d in safe_yaml_docs(p) if isinstance(d, dict)}
        for kind, home in (("EnvoyFilter", "istio"), ("EnvoyExtensionPolicy", "envoy-gateway")):
            if kind in kinds and p.parent not in homes[home]:
                homes[home].append(p.parent)
    return homes


def kinds_in(directory: Path) -> dict[str, dict]:
    """kind → the manifest of that kind in a directory (not its subdirectories)."""
    out: dict[str, dict] = {}
    for p in sorted(directory.glob("*.yaml")):
        for d in safe_yaml_docs(p):
            if isinstance(d, dict) and "kind" in d:
                out.setdefault(d["kind"], d)
    return out


def duration_seconds(value: Any) -> float | None:
    """A protobuf Duration as Envoy's YAML takes it ("10s", "0.5s", {seconds, nanos})."""
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+(?:\.\d+)?)s", value.strip())
        return float(m.group(1)) if m else None
    if isinstance(value, dict):
        return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    return None


def connection_managers(cfg: Any) -> list[dict]:
    """The typed_config of every HttpConnectionManager in an Envoy config."""
    return [n for n in walk(cfg) if n.get("@type") == HCM_TYPE]


def runs_wasm(hcm: dict) -> bool:
    """Whether the HCM has a Wasm HTTP filter (inline, or delivered over ECDS)."""
    for f in hcm.get("http_filters", []):
        if f.get("typed_config", {}).get("@type") == WASM_TYPE:
            return True
        if WASM_TYPE in f.get("config_discovery", {}).get("type_urls", []):
            return True
    return False


def plugin_jsons(hcm: dict) -> list[dict]:
    """The plugin configurations (parsed JSON) of the Wasm filters configured inline in the HCM."""
    out = []
    for f in hcm.get("http_filters", []):
        pc = f.get("typed_config", {}).get("config", {})
        conf = pc.get("configuration") if f.get("typed_config", {}).get("@type") == WASM_TYPE else None
        if isinstance(conf, dict) and conf.get("@type") == STRING_VALUE:
            try:
                parsed = json.loads(conf.get("value", ""))
            except json.JSONDecodeError:
                continue
            if isinstance(parsed, dict):
                out.append(parsed)
    return out


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def access_log_problems(cfg: Any) -> list[str]:
    """Every access log anywhere in the config (HCM, listener, route) logs the path only as the
    filter state, and nothing in the config reads X-ENVOY-ORIGINAL-PATH."""
    problems = []
    if any("x-envoy-original-path" in s.lower() for s in strings(cfg)):
        problems.append("reads X-ENVOY-ORIGINAL-PATH (client-settable): log the path as " + PATH_FILTER_STATE)
    for node in walk(cfg):
        for log in node.get("access_log", []) if isinstance(node.get("access_log"), list) else []:
            for n in walk(log):
                fmt = n.get("json_format")
                if isinstance(fmt, dict) and "path" in fmt and fmt["path"] != PATH_FILTER_STATE:
                    problems.append(f"access log `path` is {fmt['path']!r}, not {PATH_FILTER_STATE}")
            for s in strings(log):
                if HEADER_PATH_OPERATOR.search(s):
                    problems.append(f"access log takes the path from the request headers: {s!r}")
    return problems


def removed_headers(*levels: dict) -> set[str]:
    out: set[str] = set()
    for level in levels:
        out |= {h.lower() for h in level.get("request_headers_to_remove", [])}
    return out


def descriptor_problems(hcm: dict) -> list[str]:
    """With "rate_limit_descriptors": true the filter sets the x-bedrock-* descriptor headers:
    every route that forwards upstream must remove them. And a route that rate-limits on them
    needs a filter that sets them."""
    problems = []
    descriptors_on = any(c.get("rate_limit_descriptors") is True for c in plugin_jsons(hcm))
    rc = hcm.get("route_config")
    if rc is None:
        return ["routes not inline (RDS): cannot check the x-bedrock-* headers"] if descriptors_on else []
    for vh in rc.get("virtual_hosts", []):
        for r in vh.get("routes", []):
            action = r.get("route")
            if action is None:
                continue  # direct_response / redirect: nothing goes upstream
            if descriptors_on:
                missing = set(DESCRIPTOR_HEADERS) - removed_headers(rc, vh, r)
                if missing:
                    problems.append(
                        f"route {r.get('match')} in {vh.get('name')}: rate_limit_descriptors is on but "
                        f"{sorted(missing)} are not removed before the upstream (request_headers_to_remove)"
                    )
            uses = {
                a["request_headers"]["header_name"].lower()
                for rl in action.get("rate_limits", []) + vh.get("rate_limits", [])
                for a in rl.get("actions", [])
                if "request_headers" in a
            }
            if uses & set(DESCRIPTOR_HEADERS) and not descriptors_on:
                problems.append(
                    f"route {r.get('match')} rate-limits on {sorted(uses & set(DESCRIPTOR_HEADERS))} but no "
                    'filter on the listener has "rate_limit_descriptors": true (they would never be set)'
                )
    return problems


def timeout_problems(hcm: dict) -> list[str]:
    problems = []
    headers = duration_seconds(hcm.get("request_headers_timeout"))
    if not headers or headers <= 0:
        problems.append(f"request_headers_timeout is {hcm.get('request_headers_timeout')!r}: set it (> 0)")
    request = duration_seconds(hcm.get("request_timeout"))
    if not request or request <= 0:
        problems.append(f"request_timeout is {hcm.get('request_timeout')!r}: set it (> 0)")
    elif request > MAX_REQUEST_TIMEOUT_S:
        problems.append(f"request_timeout {hcm['request_timeout']} is over {MAX_REQUEST_TIMEOUT_S:g}s")
    if headers and request and headers > request:
        problems.append("request_headers_timeout is longer than request_timeout")
    return problems


def hardening_problems(cfg: dict) -> list[str]:
    """What an Envoy config lacks of the hardening every shipped config must have, as readable
    lines (empty: hardened). Every HTTP connection manager — in particular every one that runs
    the filter — bounds slow clients; access logs never take the path from request headers;
    the rate-limit descriptor headers never reach the upstream."""
    problems = access_log_problems(cfg)
    for hcm in connection_managers(cfg):
        where = f"HCM {hcm.get('stat_prefix', '?')}: "
        problems += [where + p for p in timeout_problems(hcm) + descriptor_problems(hcm)]
    return problems


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
