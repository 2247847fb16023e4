#!/usr/bin/env python3
"""`make dist` / `make oci`: release artifacts from the built filter, standard library only.

    python3 deploy/build_dist.py [--wasm PATH] [--image REPO:TAG] [--oci-digest HEX] [--out dist]

Writes, from the release build of the filter (`make wasm`):

* `dist/bedrock_openai_filter.wasm` and `dist/bedrock_openai_filter.wasm.sha256`
  (`sha256sum` format; `sha256sum -c` checks it).
* The OCI image Istio and Envoy Gateway pull, without Docker: an OCI image layout in
  `dist/oci/` and the same layout as one tar, `dist/bedrock_openai_filter.oci.tar`. It is the
  "compat" Wasm image layout (one `application/vnd.oci.image.layer.v1.tar+gzip` layer holding
  `plugin.wasm`), i.e. what `docker build -f deploy/oci/Dockerfile dist/image` produces, but
  byte-for-byte reproducible: same .wasm in, same manifest digest out.
  `dist/image/plugin.wasm` is the Docker build context for those who prefer `docker build`.
* `dist/deploy/`: every Kubernetes manifest of deploy/istio and deploy/envoy-gateway with its
  placeholders filled in: `@WASM_SHA256@` (SHA-256 of the .wasm), `@OCI_IMAGE@` (the image
  reference, `--image`) and `@OCI_DIGEST@` (hex SHA-256 of the image manifest: what Istio and
  Envoy Gateway compare an `oci://` / Image download with). Apply these, not the templates.
* `dist/SHA256SUMS` for every file above.

`--image` and `--oci-digest` are remembered in `dist/render.json`, so a later plain `make dist`
(or `make test`) renders with the same values; a remembered `--oci-digest` is dropped when the
.wasm changes, since it cannot be the digest of an image of the new build.

If you push an image built some other way (`docker build` + `docker push` gives a different
manifest, hence a different digest), pass its digest with `--oci-digest` (`make dist
OCI_DIGEST=…`) so the rendered manifests carry the digest of what is in the registry.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import shutil
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "bedrock_openai_filter"
TEMPLATE_DIRS = ("deploy/istio", "deploy/envoy-gateway")
NOT_MANIFESTS = {"helm-values.yaml"}  # inputs to other tools, used from deploy/ as they are
PLACEHOLDER = re.compile(r"@([A-Z0-9_]+)@")

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cargo_version() -> str:
    m = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M)
    return m.group(1) if m else "0.0.0"


def deterministic_tar(files: dict[str, bytes]) -> bytes:
    """A tar of `files` with fixed owner, mode and time, in name order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def deterministic_gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def canonical_json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_oci_layout(wasm: bytes, tag: str, version: str, out: Path) -> str:
    """Writes the image as an OCI image layout in `out`; returns the manifest digest (hex)."""
    if out.exists():
        shutil.rmtree(out)
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> str:
        digest = sha256(data)
        (blobs / digest).write_bytes(data)
        return digest

    layer_tar = deterministic_tar({"plugin.wasm": wasm})
    layer = deterministic_gzip(layer_tar)
    layer_digest = blob(layer)
    config = canonical_json(
        {
            "architecture": "wasm",
            "os": "wasip1",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha256(layer_tar)}"]},
        }
    )
    config_digest = blob(config)
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": f"sha256:{config_digest}", "size": len(config)},
            "layers": [
                {
                    "mediaType": MT_LAYER,
                    "digest": f"sha256:{layer_digest}",
                    "size": len(layer),
                    "annotations": {"org.opencontainers.image.title": "plugin.wasm"},
                }
            ],
            "annotations": {
                "org.opencontainers.image.title": "bedrock-openai-filter",
                "org.opencontainers.image.description": "Envoy proxy-wasm filter: OpenAI API in front of Amazon Bedrock",
                "org.opencontainers.image.version": version,
                "org.opencontainers.image.licenses": "Apache-2.0",
            },
        }
    )
    manifest_digest = blob(manifest)
    (out / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    (out / "index.json").write_bytes(
        canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {
                        "mediaType": MT_MANIFEST,
                        "digest": f"sha256:{manifest_digest}",
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": tag},
                    }
                ],
            }
        )
    )
    return manifest_digest


def tar_directory(src: Path) -> bytes:
    files = {p.relative_to(src).as_posix(): p.read_bytes() for p in sorted(src.rglob("*")) if p.is_file()}
    return deterministic_tar(files)


def render(text: str, values: dict[str, str], where: str) -> str:
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - set(values))
    if unknown:
        raise SystemExit(f"{where}: unknown placeholder(s) {', '.join('@' + u + '@' for u in unknown)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def main(argv: list[str] | None = None) -> int:
    version = cargo_version()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wasm", default=f"target/wasm32-wasip1/release/{NAME}.wasm")
    ap.add_argument("--image", help="image reference (REPO:TAG, no scheme) written into the manifests")
    ap.add_argument("--oci-digest", help="hex manifest digest of the pushed image, if not ours")
    ap.add_argument("--out", default="dist")
    args = ap.parse_args(argv)
    out = ROOT / args.out
    remembered = {}
    if (out / "render.json").is_file():
        remembered = json.loads((out / "render.json").read_text())

    wasm_path = ROOT / args.wasm
    if not wasm_path.is_file():
        raise SystemExit(f"{wasm_path} not found: build it first (make wasm)")
    wasm = wasm_path.read_bytes()
    wasm_sha = sha256(wasm)
    if args.image is None:
        args.image = remembered.get("image") or f"registry.example.com/bedrock-openai-filter:{version}"
    if args.oci_digest is None:
        args.oci_digest = remembered.get("oci_digest", "") if remembered.get("wasm_sha256") == wasm_sha else ""
        if remembered.get("oci_digest") and not args.oci_digest:
            print("note: the .wasm changed, so the remembered --oci-digest no longer applies", file=sys.stderr)
    if "://" in args.image or ":" not in args.image.rsplit("/", 1)[-1]:
        raise SystemExit(f"--image must be REPO:TAG without a scheme, not {args.image!r}")
    if args.oci_digest and not re.fullmatch(r"[0-9a-f]{64}", args.oci_digest):
        raise SystemExit("--oci-digest must be 64 lowercase hex digits (no sha256: prefix)")

    out.mkdir(parents=True, exist_ok=True)
    if wasm[:4] != b"\0asm":
        raise SystemExit(f"{wasm_path} is not a WebAssembly module")
    (out / f"{NAME}.wasm").write_bytes(wasm)
    (out / f"{NAME}.wasm.sha256").write_text(f"{wasm_sha}  {NAME}.wasm\n")

    (out / "image").mkdir(exist_ok=True)
    (out / "image" / "plugin.wasm").write_bytes(wasm)
    tag = args.image.rsplit(":", 1)[1]
    digest = write_oci_layout(wasm, tag, version, out / "oci")
    (out / f"{NAME}.oci.tar").write_bytes(tar_directory(out / "oci"))

    (out / "render.json").write_text(
        json.dumps({"image": args.image, "oci_digest": args.oci_digest, "wasm_sha256": wasm_sha}, indent=2) + "\n"
    )
    values = {"WASM_SHA256": wasm_sha, "OCI_IMAGE": args.image, "OCI_DIGEST": args.oci_digest or digest}
    rendered_root = out / "deploy"
    if rendered_root.exists():
        shutil.rmtree(rendered_root)
    rendered = []
    for d in TEMPLATE_DIRS:
        for src in sorted((ROOT / d).rglob("*.yaml")):
            if src.name in NOT_MANIFESTS:
                continue
            rel = src.relative_to(ROOT / "deploy")
            dst = rendered_root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(render(src.read_text(encoding="utf-8"), values, str(src.relative_to(ROOT))))
            rendered.append(dst)

    sums = [out / f"{NAME}.wasm", out / f"{NAME}.oci.tar", *rendered]
    (out / "SHA256SUMS").write_text(
        "".join(f"{sha256(p.read_bytes())}  {p.relative_to(out).as_posix()}\n" for p in sums)
    )
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"{shown}/{NAME}.wasm  {len(wasm)} bytes  sha256 {wasm_sha}")
    print(f"{shown}/oci  image {args.image}  manifest sha256:{digest}")
    if args.oci_digest:
        print(f"manifests rendered with the given image digest sha256:{args.oci_digest}")
    print(f"{len(rendered)} manifests rendered into {shown}/deploy/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
