"""check_dynamic_module_abi.py against stand-ins built with the C compiler: an "Envoy" that exports one
callback and names two required hooks and one optional hook, and modules that match it or not."""

import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import check_dynamic_module_abi

ENVOY_C = """
void envoy_dynamic_module_callback_http_set_header(void) {}
const char *hooks[] = {"envoy_dynamic_module_on_http_filter_new",
                       "envoy_dynamic_module_on_http_filter_destroy",
                       "envoy_dynamic_module_on_http_filter_local_reply"};
"""
GOOD_C = """
extern void envoy_dynamic_module_callback_http_set_header(void);
void envoy_dynamic_module_on_http_filter_new(void) { envoy_dynamic_module_callback_http_set_header(); }
void envoy_dynamic_module_on_http_filter_destroy(void) {}
"""
BAD_C = """
extern void envoy_dynamic_module_callback_http_gone(void);
void envoy_dynamic_module_on_http_filter_new(void) { envoy_dynamic_module_callback_http_gone(); }
"""


class CheckNativeAbi(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())

    def tearDown(self):
        shutil.rmtree(self.dir)

    def build(self, name: str, source: str) -> str:
        c, so = self.dir / f"{name}.c", self.dir / f"lib{name}.so"
        c.write_text(source)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(c)], check=True)
        return str(so)

    def test_a_matching_module_passes(self):
        envoy = self.build("envoy", ENVOY_C)
        self.assertEqual(check_dynamic_module_abi.check(self.build("good", GOOD_C), envoy), [])

    def test_a_missing_callback_and_a_missing_required_hook_fail(self):
        envoy = self.build("envoy", ENVOY_C)
        problems = check_dynamic_module_abi.check(self.build("bad", BAD_C), envoy)
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("envoy_dynamic_module_callback_http_gone", problems[0])
        self.assertIn("envoy_dynamic_module_on_http_filter_destroy", problems[1])


if __name__ == "__main__":
    unittest.main()
