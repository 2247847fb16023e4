#!/usr/bin/env python3
"""The dynamic-module build's ABI against an Envoy binary (`make dynamic-module-check`; binutils).

The dynamic-module shell declares Envoy's ABI by hand (`src/dynamic_module/abi.rs`), so an
Envoy upgrade that renames or drops a callback, or adds a hook Envoy requires, must fail here
rather than at `dlopen` in production:

- every `envoy_dynamic_module_callback_*` the module imports is exported by Envoy;
- every `envoy_dynamic_module_on_http_filter_*` hook Envoy looks up (its names are strings
  in the binary) is exported by the module, except the hooks Envoy treats as optional.

A signature change under the same name is not visible to symbols: `make e2e-dynamic-module` against
the same pinned Envoy is what catches it.

    scripts/check_dynamic_module_abi.py MODULE.so ENVOY
"""

import re
import subprocess
import sys

# Hooks Envoy 1.40 resolves only if present (config-level scheduling and side calls, local
# replies); a module without them still loads.
OPTIONAL_HOOKS = {
    "envoy_dynamic_module_on_http_filter_config_scheduled",
    "envoy_dynamic_module_on_http_filter_config_http_callout_done",
    "envoy_dynamic_module_on_http_filter_config_http_stream_headers",
    "envoy_dynamic_module_on_http_filter_config_http_stream_data",
    "envoy_dynamic_module_on_http_filter_config_http_stream_trailers",
    "envoy_dynamic_module_on_http_filter_config_http_stream_complete",
    "envoy_dynamic_module_on_http_filter_config_http_stream_reset",
    "envoy_dynamic_module_on_http_filter_local_reply",
}
HOOK = re.compile(rb"^envoy_dynamic_module_on_(?:http_filter_[a-z_]+|program_init)$")


def dynamic_symbols(path: str, which: str) -> set[str]:
    out = subprocess.run(["nm", "-D", which, path], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def hook_names(envoy: str) -> set[str]:
    """The hook names Envoy may look up: every matching NUL-terminated string in the binary."""
    with open(envoy, "rb") as f:
        data = f.read()
    return {s.decode() for s in re.findall(rb"[a-z_]{20,}", data) if HOOK.match(s)}


def check(module: str, envoy: str) -> list[str]:
    imports = {s for s in dynamic_symbols(module, "--undefined-only") if s.startswith("envoy_dynamic_module_")}
    exports = dynamic_symbols(module, "--defined-only")
    envoy_exports = dynamic_symbols(envoy, "--defined-only")
    problems = [f"Envoy does not export {s}, which the module calls" for s in sorted(imports - envoy_exports)]
    required = hook_names(envoy) - OPTIONAL_HOOKS
    problems += [f"the module does not export {h}, which Envoy requires" for h in sorted(required - exports)]
    if not imports or not required:
        problems.append("no ABI symbols found: not a dynamic module, or not Envoy")
    return problems


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(sys.argv[1], sys.argv[2])
    for p in problems:
        print(f"check_dynamic_module_abi: {p}", file=sys.stderr)
    if not problems:
        print(f"check_dynamic_module_abi: {sys.argv[1]} matches {sys.argv[2]}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
