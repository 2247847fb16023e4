#!/usr/bin/env python3
"""Extract the OpenAPI v3 schemas of the CRD kinds our Kubernetes manifests use.

Maintainer tool, not run by `make test`: it reads upstream CRD YAML files (Istio's
`manifests/charts/base/files/crd-all.gen.yaml`, Envoy Gateway's
`charts/gateway-helm/charts/crds/crds/generated/*.yaml` and `.../gatewayapi-crds.yaml`) and
writes one JSON schema per served (group, version, kind) that we ship manifests for into
tests/deploy/schemas/, where tests/deploy/check_deploy.py validates the manifests against them.
See tests/deploy/schemas/README.md for where the committed schemas came from.

    .venv/bin/python tests/deploy/extract_crd_schemas.py CRD.yaml [CRD.yaml ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent / "schemas"

# (group, version, kind) of every kind that deploy/ ships.
WANTED = {
    ("extensions.istio.io", "v1alpha1", "WasmPlugin"),
    ("networking.istio.io", "v1alpha3", "EnvoyFilter"),
    ("networking.istio.io", "v1", "ServiceEntry"),
    ("networking.istio.io", "v1", "DestinationRule"),
    ("gateway.envoyproxy.io", "v1alpha1", "EnvoyExtensionPolicy"),
    ("gateway.envoyproxy.io", "v1alpha1", "EnvoyPatchPolicy"),
    ("gateway.envoyproxy.io", "v1alpha1", "Backend"),
    ("gateway.envoyproxy.io", "v1alpha1", "BackendTrafficPolicy"),
    ("gateway.envoyproxy.io", "v1alpha1", "ClientTrafficPolicy"),
    ("gateway.envoyproxy.io", "v1alpha1", "EnvoyProxy"),
    ("gateway.networking.k8s.io", "v1", "GatewayClass"),
    ("gateway.networking.k8s.io", "v1", "Gateway"),
    ("gateway.networking.k8s.io", "v1", "HTTPRoute"),
    ("gateway.networking.k8s.io", "v1", "BackendTLSPolicy"),
}


def schema_file(group: str, version: str, kind: str) -> Path:
    return OUT / f"{group}_{version}_{kind}.json"


def main(paths: list[str]) -> int:
    found = set()
    for p in paths:
        for doc in yaml.safe_load_all(Path(p).read_text(encoding="utf-8")):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            group, kind = spec["group"], spec["names"]["kind"]
            for v in spec["versions"]:
                key = (group, v["name"], kind)
                if key not in WANTED or not v.get("served", True):
                    continue
                schema = v["schema"]["openAPIV3Schema"]
                schema_file(*key).write_text(
                    json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n",
                    encoding="utf-8",
                )
                found.add(key)
    for key in sorted(WANTED - found):
        print("not found in the given CRDs:", "/".join(key), file=sys.stderr)
    print(f"wrote {len(found)} schemas to {OUT}")
    return 0 if found == WANTED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
