#!/usr/bin/env python3
"""Structure checks of `src/` that the compiler does not make (`make lint`; stdlib only).

- The top-level modules of `src/` (`config`, `pipeline`, `auth`, …) form a DAG: a cycle
  between them means neither can be read, tested or changed alone. Edges come from
  `crate::…` paths (also inside `use crate::{…}` groups) and from `super::` paths that climb
  out of a top-level module, in code outside `#[cfg(test)]`.
- No module (file) over MAX_MODULE_LINES lines of code (not blank, not only a comment),
  outside `#[cfg(test)]` items and out-of-line test modules.
- No function over MAX_FN_LINES lines (from `fn` to its closing brace) outside tests.

`--graph` prints the module graph in layers (each module uses only modules of lower layers),
the table that docs/architecture.md describes.
"""

import re
import sys
from pathlib import Path

MAX_MODULE_LINES = 600
MAX_FN_LINES = 80
ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def mask(text):
    """`text` with comments and the contents of string and char literals blanked to spaces
    (newlines kept), so braces, `fn` and `crate::` are only found in code."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        prev = text[i - 1] if i > 0 else ""
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c == "r" and not _ident(prev, text, i) and re.match(r'r#*"', text[i:]):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            start = i + 2 + len(hashes)
            end = text.find('"' + hashes, start)
            end = n if end < 0 else end
            blank(start, end)
            i = end + 1 + len(hashes)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime / label ('a, 'static).
            if nxt == "\\":
                j = text.find("'", i + 2)
                j = n if j < 0 else j
                blank(i + 1, j)
                i = j + 1
            elif i + 2 < n and text[i + 2] == "'":
                blank(i + 1, i + 2)
                i += 3
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def _ident(prev, text, i):
    """True when `text[i]` continues an identifier (so an `r` is not a raw-string prefix;
    `br"…"` is still one)."""
    if prev == "b" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] == "_")):
        return False
    return prev.isalnum() or prev == "_"


def match_brace(code, open_at):
    """Index just past the `}` matching the `{` at `open_at`."""
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k + 1
    return len(code)


CFG_TEST = re.compile(r"#\[cfg\(test\)\]")
ITEM_END = re.compile(r"[{;]")


def test_spans(code):
    """(start, end) of every item under `#[cfg(test)]`, and the names of out-of-line test
    modules (`#[cfg(test)] mod tests;`)."""
    spans, out_of_line = [], []
    for m in CFG_TEST.finditer(code):
        e = ITEM_END.search(code, m.end())
        if not e:
            continue
        if code[e.start()] == ";":
            spans.append((m.start(), e.end()))
            name = re.search(r"\bmod\s+(\w+)\s*$", code[m.end() : e.start()])
            if name:
                out_of_line.append(name.group(1))
        else:
            spans.append((m.start(), match_brace(code, e.start())))
    return spans, out_of_line


def line_of(code, index):
    return code.count("\n", 0, index) + 1


def in_spans(index, spans):
    return any(a <= index < b for a, b in spans)


class SourceFile:
    def __init__(self, path, src=SRC):
        self.path = path
        self.rel = path.relative_to(src.parent).as_posix()
        self.code = mask(path.read_text(encoding="utf-8"))
        self.tests, self.test_mods = test_spans(self.code)
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] in ("mod", "lib"):
            parts = parts[:-1]
        self.module = parts  # e.g. ["auth", "iam"]; [] for lib.rs

    def code_lines(self):
        lines = self.code.split("\n")
        test_lines = set()
        for a, b in self.tests:
            test_lines.update(range(line_of(self.code, a), line_of(self.code, b) + 1))
        return sum(
            1 for no, text in enumerate(lines, 1) if text.strip() and no not in test_lines
        )

    def long_functions(self):
        for m in re.finditer(r"\bfn\s+(\w+)", self.code):
            if in_spans(m.start(), self.tests):
                continue
            e = ITEM_END.search(self.code, m.end())
            if not e or self.code[e.start()] == ";":
                continue  # a declaration without a body
            end = match_brace(self.code, e.start())
            first, last = line_of(self.code, m.start()), line_of(self.code, end - 1)
            if last - first + 1 > MAX_FN_LINES:
                yield m.group(1), first, last - first + 1

    def uses(self):
        """(top-level module, line) for every path from this file into another top-level
        module, outside tests."""
        own = self.module[0] if self.module else None
        for m in re.finditer(r"\b(crate|super)\s*::", self.code):
            if in_spans(m.start(), self.tests):
                continue
            target = self._target(m)
            for top in target:
                if top and top != own:
                    yield top, line_of(self.code, m.start())

    def _target(self, m):
        rest = self.code[m.end() :]
        if m.group(1) == "super":
            if m.start() >= 2 and self.code[: m.start()].rstrip().endswith("::"):
                return []  # the tail of a `super::super::` chain, resolved at its head
            ups = 1 + len(re.match(r"(\s*super\s*::)*", rest).group(0).split("super")) - 1
            base = self.module[: max(len(self.module) - ups, 0)]
            if base:
                return []  # still inside a top-level module
            rest = rest[len(re.match(r"(\s*super\s*::)*", rest).group(0)) :]
        rest = rest.lstrip()
        if rest.startswith("{"):
            return group_heads(rest[: match_brace(rest, 0)])
        name = re.match(r"\w+", rest)
        return [name.group(0)] if name else []


def group_heads(group):
    """The first segment of each path in a `{a::b, c, d::{e, f}}` group."""
    heads, depth, start = [], 0, 1
    for k, ch in enumerate(group):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if (ch == "," and depth == 1) or (ch == "}" and depth == 0):
            name = re.match(r"\s*(\w+)", group[start:k])
            if name and name.group(1) != "self":
                heads.append(name.group(1))
            start = k + 1
    return heads


def source_files(src=SRC):
    files = {p: SourceFile(p, src) for p in sorted(src.rglob("*.rs"))}
    # Out-of-line test modules (`#[cfg(test)] mod tests;`) are test code throughout.
    excluded = set()
    for f in files.values():
        for name in f.test_mods:
            base = f.path.parent if f.path.name in ("mod.rs", "lib.rs") else f.path.with_suffix("")
            for cand in (base / f"{name}.rs", base / name / "mod.rs"):
                excluded.add(cand)
    return [f for p, f in files.items() if p not in excluded]


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layers(graph, nodes):
    """Modules grouped by depth: layer 0 uses no other module, layer k only lower layers."""
    depth = {}

    def d(v, seen=()):
        if v not in depth:
            depth[v] = 1 + max((d(w, seen + (v,)) for w in graph.get(v, ()) if w not in seen), default=-1)
        return depth[v]

    out = {}
    for v in nodes:
        out.setdefault(d(v), []).append(v)
    return [sorted(out[k]) for k in sorted(out)]


def main(argv, src=SRC):
    files = source_files(src)
    tops = {f.module[0] for f in files if f.module}
    graph, where, problems = {}, {}, []
    for f in files:
        for top, line in f.uses() if f.module else ():
            if top in tops:
                graph.setdefault(f.module[0], set()).add(top)
                where.setdefault((f.module[0], top), f"{f.rel}:{line}")
        lines = f.code_lines()
        if lines > MAX_MODULE_LINES:
            problems.append(f"{f.rel}: {lines} lines of code (limit {MAX_MODULE_LINES}, tests excluded)")
        for name, first, length in f.long_functions():
            problems.append(f"{f.rel}:{first}: fn {name} is {length} lines (limit {MAX_FN_LINES})")
    for comp in cycles(graph):
        edges = [
            f"{a} -> {b} ({where[(a, b)]})"
            for a in comp
            for b in sorted(graph.get(a, ()))
            if b in comp
        ]
        problems.append("import cycle between " + ", ".join(comp) + ":\n    " + "\n    ".join(edges))
    if "--graph" in argv:
        for k, layer in enumerate(layers(graph, sorted(tops))):
            print(f"layer {k}:")
            for v in layer:
                print(f"  {v} -> {', '.join(sorted(graph.get(v, ()))) or '(nothing)'}")
    for p in problems:
        print(f"check_structure: {p}", file=sys.stderr)
    if not problems:
        print(f"check_structure: {len(files)} files, {len(tops)} top-level modules, no cycle, sizes within limits")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
