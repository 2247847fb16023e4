#!/usr/bin/env python3
"""An Envoy config with the filter's dynamic-module build in place of its Wasm build.

Every `envoy.filters.http.wasm` filter with `root_id: bedrock_openai` becomes an
`envoy.filters.http.dynamic_modules` filter that loads `lib<module>.so` (from
ENVOY_DYNAMIC_MODULES_SEARCH_PATH, or dlopen's search path) with the same plugin
configuration. Used by `make run FILTER=module`, `make e2e-dynamic-module` (tests/e2e) and
the benchmarks (bench/ab.py), so the two builds always run the same configuration.

    scripts/dynamic_module_config.py IN.yaml OUT.yaml [MODULE_NAME]
"""

import sys
from pathlib import Path

import yaml

MODULE = "bedrock_openai_filter"


def module_name(library) -> str:
    """The name Envoy loads `lib<name>.so` by, from the library's path."""
    return Path(library).name.removeprefix("lib").removesuffix(".so")


def dynamic_module_filter(configuration: dict, module: str = MODULE) -> dict:
    """The http filter entry that loads `module` with the Wasm filter's `configuration` (a
    `google.protobuf.StringValue`, passed to the module as its bytes)."""
    return {
        "name": "envoy.filters.http.dynamic_modules",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
            "dynamic_module_config": {"name": module, "do_not_close": True},
            "filter_name": "bedrock_openai",
            "filter_config": configuration,
        },
    }


def use_dynamic_module(doc: dict, module: str = MODULE) -> int:
    """Replaces the filter's Wasm entries in `doc` in place; returns how many."""
    replaced = 0
    for listener in doc.get("static_resources", {}).get("listeners", []):
        for chain in listener.get("filter_chains", []):
            for network_filter in chain.get("filters", []):
                http_filters = network_filter.get("typed_config", {}).get("http_filters", [])
                for i, f in enumerate(http_filters):
                    wasm = f.get("typed_config", {}).get("config", {})
                    if f.get("name") == "envoy.filters.http.wasm" and wasm.get("root_id") == "bedrock_openai":
                        http_filters[i] = dynamic_module_filter(wasm["configuration"], module)
                        replaced += 1
    return replaced


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        doc = yaml.safe_load(f)
    if not use_dynamic_module(doc, *sys.argv[3:]):
        print(f"{sys.argv[1]}: no Wasm filter with root_id bedrock_openai", file=sys.stderr)
        return 1
    with open(sys.argv[2], "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
