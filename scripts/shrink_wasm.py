#!/usr/bin/env python3
"""`make wasm`'s last step: shrink cargo's release module with binaryen's wasm-opt, then hold
it to the size budget.

    python3 scripts/shrink_wasm.py MODULE BUDGET_BYTES

wasm-opt takes about an eighth off the module at no cost per request (`make bench-ab`). Cargo
copies its raw output (`deps/` beside MODULE) over MODULE on every build, even a no-op one, so
the shrunk module is kept in `shrunk/` beside it with the hash of the raw module it came from,
and wasm-opt runs again only when that raw module changed. Without wasm-opt on the PATH the raw
module stays, a warning says so, and the budget is not checked (the raw module is over it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The features rustc's wasm32-wasip1 target emits (binaryen must be told, or it rejects them).
FEATURES = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-multivalue",
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shrink(raw: Path, cache: Path, stamp: Path) -> None:
    """wasm-opt -Oz of `raw` into `cache`, unless `cache` already is that."""
    want = digest(raw)
    if cache.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return
    cache.parent.mkdir(exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    print(f"wasm-opt -Oz {raw} (about a minute)", flush=True)
    subprocess.run(["wasm-opt", "-Oz", *FEATURES, str(raw), "-o", str(tmp)], check=True)
    os.replace(tmp, cache)
    stamp.write_text(want + "\n")


def main(argv: list[str]) -> int:
    module, budget = Path(argv[0]), int(argv[1])
    raw = module.parent / "deps" / module.name
    if not raw.exists():
        raw = module
    if shutil.which("wasm-opt") is None:
        print(f"WARNING: wasm-opt (binaryen) not found: {module} is the raw build, "
              f"{module.stat().st_size} bytes, not shrunk and not held to the budget of {budget}")
        return 0
    cache = module.parent / "shrunk" / module.name
    shrink(raw, cache, cache.with_suffix(".raw-sha256"))
    # A new file, not a write through the old one: `module` may be a hard link to `raw`.
    tmp = module.with_suffix(".tmp")
    shutil.copyfile(cache, tmp)
    os.replace(tmp, module)
    size = module.stat().st_size
    if size > budget:
        print(f"ERROR: {module} is {size} bytes, over the budget of {budget} (WASM_BUDGET in the "
              f"Makefile; docs/testing.md says how to find what grew)")
        return 1
    print(f"{module}: {size} bytes (budget {budget}, raw {raw.stat().st_size})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
