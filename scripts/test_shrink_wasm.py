"""Tests of scripts/shrink_wasm.py with a stand-in wasm-opt (`make lint` runs them)."""

import contextlib
import io
import os
import shutil
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import shrink_wasm

# Writes the first half of its input to `-o`, and counts its runs in runs.log beside itself.
FAKE_WASM_OPT = """#!/bin/sh
dir=$(dirname "$0"); echo run >> "$dir/runs.log"
while [ $# -gt 0 ]; do case $1 in -o) out=$2; shift 2;; -*) shift;; *) in=$1; shift;; esac; done
head -c $(( $(wc -c < "$in") / 2 )) "$in" > "$out"
"""


class Shrink(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.bin = self.tmp / "bin"
        self.bin.mkdir()
        release = self.tmp / "release"
        (release / "deps").mkdir(parents=True)
        self.raw = release / "deps" / "m.wasm"
        self.module = release / "m.wasm"
        self.build(b"x" * 1000)

    def build(self, raw: bytes):
        """What cargo does on every build: the raw module, hard-linked as the module."""
        self.raw.write_bytes(raw)
        self.module.unlink(missing_ok=True)
        os.link(self.raw, self.module)

    def run_it(self, budget: int, with_tool: bool = True):
        if with_tool:
            tool = self.bin / "wasm-opt"
            tool.write_text(FAKE_WASM_OPT)
            tool.chmod(0o755)
        out = io.StringIO()
        with mock.patch.dict(os.environ, {"PATH": f"{self.bin}:/usr/bin:/bin"}), \
                contextlib.redirect_stdout(out):
            code = shrink_wasm.main([str(self.module), str(budget)])
        return code, out.getvalue()

    def runs(self) -> int:
        log = self.bin / "runs.log"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def test_shrinks_without_touching_cargos_raw_module(self):
        code, text = self.run_it(600)
        self.assertEqual(code, 0, text)
        self.assertEqual(self.module.stat().st_size, 500)
        self.assertEqual(self.raw.stat().st_size, 1000)

    def test_over_the_budget_fails(self):
        code, text = self.run_it(499)
        self.assertEqual(code, 1)
        self.assertIn("over the budget of 499", text)

    def test_runs_again_only_when_the_raw_module_changed(self):
        self.run_it(600)
        self.build(b"x" * 1000)
        self.run_it(600)
        self.assertEqual(self.runs(), 1)
        self.assertEqual(self.module.stat().st_size, 500)
        self.build(b"y" * 800)
        self.run_it(600)
        self.assertEqual(self.runs(), 2)
        self.assertEqual(self.module.read_bytes(), b"y" * 400)

    def test_without_wasm_opt_the_raw_module_stays_with_a_warning(self):
        with mock.patch.object(shrink_wasm.shutil, "which", return_value=None):
            code, text = self.run_it(10, with_tool=False)
        self.assertEqual(code, 0)
        self.assertIn("WARNING: wasm-opt (binaryen) not found", text)
        self.assertEqual(self.module.stat().st_size, 1000)


if __name__ == "__main__":
    unittest.main()
