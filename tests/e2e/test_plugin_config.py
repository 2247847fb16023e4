"""A bad plugin configuration fails plugin start, and Envoy's log names the field at fault.

Runs real Envoy in `--mode validate`, which loads the Wasm module and calls `on_configure`.
"""

import subprocess

import pytest
import yaml

from e2e_support import REPO, demo_env, demo_plugin_config, envoy_binary, free_port, render_envoy_config


def validate(tmp_path, plugin_config: dict, env: dict | None = None) -> subprocess.CompletedProcess:
    config = render_envoy_config(
        listener_port=free_port(), admin_port=free_port(), upstream_port=free_port(), plugin_config=plugin_config
    )
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "info"],
        capture_output=True,
        text=True,
        timeout=60,
        env=demo_env(**(env or {})),
        cwd=str(REPO),
    )


def test_the_shipped_config_is_accepted(tmp_path):
    result = validate(tmp_path, demo_plugin_config())
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "change, env, field",
    [
        ({"regoin": "us-east-1"}, None, "regoin"),
        ({"api_keys": [], "tenants": {}}, None, "api_keys"),
        ({"tenants": {"demo": {"key_sha256": ["not-hex"]}}}, None, "tenants.demo.key_sha256[0]"),
        ({"api_keys": ["short"]}, None, "api_keys[0]"),
        ({"region": "us east 1"}, None, "region"),
        ({"model_aliases": {"gpt-4o": ""}}, None, "model_aliases"),
        ({}, {"AWS_ACCESS_KEY_ID": None}, "AWS_ACCESS_KEY_ID"),
    ],
)
def test_a_bad_config_fails_start_naming_the_field(tmp_path, change, env, field):
    plugin_config = {**demo_plugin_config(), **change}
    result = validate(tmp_path, plugin_config, env)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert "invalid plugin configuration" in log, log
    assert field in log, log
