"""Tests of scripts/check_structure.py on small made-up crates (`make lint` runs them)."""

import contextlib
import io
import tempfile
import textwrap
import unittest
from pathlib import Path

import check_structure


def run(files, *argv):
    """(exit code, stderr) of the check on a crate made of `files` (path → Rust text)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for name, text in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(textwrap.dedent(text))
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = check_structure.main(list(argv), src)
        return code, err.getvalue() + out.getvalue()


LIB = "pub mod a;\npub mod b;\npub mod c;\n"


class Cycles(unittest.TestCase):
    def test_a_cycle_is_reported_with_its_edges(self):
        code, text = run({
            "lib.rs": LIB,
            "a.rs": "use crate::b::X;\n",
            "b/mod.rs": "pub mod inner;\n",
            "b/inner.rs": "fn f() { crate::a::g(); }\n",
            "c.rs": "",
        })
        self.assertEqual(code, 1)
        self.assertIn("import cycle between a, b", text)
        self.assertIn("b -> a (src/b/inner.rs:1)", text)

    def test_a_dag_passes(self):
        code, text = run({"lib.rs": LIB, "a.rs": "use crate::b::X;\n", "b.rs": "use crate::c;\n", "c.rs": ""})
        self.assertEqual(code, 0, text)

    def test_groups_and_super_paths_count(self):
        # `use crate::{…}` names each head; `super::super` from a/x/y.rs reaches the crate root.
        code, text = run({
            "lib.rs": LIB,
            "a/mod.rs": "mod x;\n",
            "a/x/mod.rs": "mod y;\nuse crate::{c::Z, b::{P, Q}};\n",
            "a/x/y.rs": "use super::super::super::b::W;\n",
            "b.rs": "use crate::c;\n",
            "c.rs": "use crate::a::K;\n",
        }, "--graph")
        self.assertEqual(code, 1)
        self.assertIn("a -> b, c", text)
        self.assertIn("import cycle between a, b, c", text)

    def test_tests_comments_and_strings_do_not_count(self):
        code, text = run({
            "lib.rs": LIB,
            "a.rs": """
                // crate::b::x in a comment, /* crate::b */ and "crate::b::y" in a string
                const S: &str = r#"crate::b"#;
                const C: char = '"';
                #[cfg(test)]
                mod tests { use crate::b::T; }
                #[cfg(test)]
                mod more;
            """,
            "a/more.rs": "use crate::b::U;\n",
            "b.rs": "use crate::a::S;\n",
            "c.rs": "",
        })
        self.assertEqual(code, 0, text)


class Sizes(unittest.TestCase):
    def test_long_function_and_big_module(self):
        body = "    let x = 1;\n" * 80
        code, text = run({"lib.rs": f"fn long() {{\n{body}}}\nfn short() {{}}\n"})
        self.assertEqual(code, 1)
        self.assertIn("src/lib.rs:1: fn long is 82 lines", text)
        self.assertNotIn("short", text)
        code, text = run({"lib.rs": "const A: u8 = 1;\n" * 601})
        self.assertIn("601 lines of code", text)

    def test_test_code_and_comments_are_not_counted(self):
        body = "    let x = 1;\n" * 100
        code, text = run({
            "lib.rs": "// note\n" * 700 + "const A: u8 = 1;\n" * 500
            + f"#[cfg(test)]\nmod tests {{\n    fn long() {{\n{body}    }}\n}}\n",
        })
        self.assertEqual(code, 0, text)


if __name__ == "__main__":
    unittest.main()
