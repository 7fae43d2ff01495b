"""The layer map (``pdelearn/_layers.py``) against the code: every module in exactly one layer, no import going up a
layer (top-level, inside functions, relative, ``importlib`` and ``"module:attr"`` strings), no import cycle, and
the same map as the table of ``docs/architecture.md``."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

import pdelearn
from pdelearn._layers import LAYERS, Layer, table

PACKAGE = Path(pdelearn.__file__).parent
DOC = PACKAGE.parent / "docs" / "architecture.md"
_IMPORTERS = {"import_module", "__import__"}


def modules(root: Path) -> dict[str, Path]:
    """Dotted module names (``pkg.sub.mod``; a package by its own name) -> files."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _anchor(name: str, path: Path, level: int) -> str:
    """The package a relative import of ``level`` dots starts from."""
    parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    return ".".join(parts[: len(parts) - level + 1])


def imports(name: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, int, str]]:
    """``(target module, line, how)`` for every import of a module of the package, wherever it is written."""
    base = name.split(".")[0]
    tree = ast.parse(path.read_text())
    lazy = [n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in n.targets) and isinstance(n.value, ast.Dict)]
    string = re.compile(rf"^({re.escape(base)}(?:\.\w+)+)(?::[\w.]+)?$")  # not the bare name ("created_by")
    found: list[tuple[str, int, str]] = []
    seen: set[int] = set()  # string constants read as an importlib argument already

    def add(target: str, node: ast.AST, how: str) -> None:
        while target not in mods and "." in target:  # `import pkg.mod.attr`-like: the module part
            target = target.rsplit(".", 1)[0]
        if target in mods and target != name and (target, node.lineno, how) not in found:
            found.append((target, node.lineno, how))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == base:
                    add(alias.name, node, "import")
        elif isinstance(node, ast.ImportFrom):
            start = _anchor(name, path, node.level) if node.level else ""
            module = ".".join(p for p in (start, node.module or "") if p)
            if module.split(".")[0] != base:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                add(sub if sub in mods else module, node, "from-import")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in _IMPORTERS:
            if not node.args:
                continue
            first, anchor = node.args[0], None
            second = node.args[1] if len(node.args) > 1 else None
            if isinstance(second, ast.Name) and second.id in ("__name__", "__package__"):
                anchor = name if second.id == "__name__" or path.name == "__init__.py" else _anchor(name, path, 1)
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                text = first.value
                if text.startswith("."):
                    dots = len(text) - len(text.lstrip("."))
                    text = ".".join(p for p in (anchor.rsplit(".", dots - 1)[0] if dots > 1 else anchor,
                                                text.lstrip(".")) if p) if anchor else ""
                add(text, node, "importlib")
                seen.add(id(first))
            elif isinstance(first, ast.JoinedStr) and first.values and isinstance(first.values[0], ast.Constant) \
                    and str(first.values[0].value).startswith((".", base)):
                if not (lazy and anchor and first.values[0].value == "."):  # only f".{_LAZY[name]}" is readable
                    found.append((f"<dynamic import {ast.unparse(first)}>", node.lineno, "importlib"))
                    continue
                for table_ in lazy:
                    for v in table_.values:
                        if isinstance(v, ast.Constant) and isinstance(v.value, str):
                            add(f"{anchor}.{v.value}", node, "importlib (_LAZY)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in seen:
            m = string.match(node.value)
            if m and m.group(1) in mods:  # "pkg.mod" or a registry's "pkg.mod:Class"
                add(m.group(1), node, "string")
    return found


def third_party(path: Path) -> set[str]:
    """Top-level names of the absolute imports of a file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def placed(root: Path, layers) -> tuple[dict[str, int], list[str]]:
    """Each module's layer index, and the problems of the map itself (no layer, two layers, unknown entries)."""
    mods = modules(root)
    where: dict[str, list[int]] = {m: [] for m in mods}
    problems = []

    def dotted(entry: str) -> str:
        rel = entry.rstrip("/").removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        return f"{root.name}.{rel}" if rel != "__init__" else root.name

    named = {dotted(e) for layer in layers for e in layer.modules if not e.endswith("/")}
    for i, layer in enumerate(layers):
        for entry in layer.modules:
            name = dotted(entry)
            # a subpackage entry holds its modules but those the map names one by one (in another layer)
            hits = [m for m in mods if m == name or (entry.endswith("/") and m.startswith(name + ".") and m not in named)]
            if not hits:
                problems.append(f"the map names {entry!r} (layer {layer.name!r}), which is no module")
            for m in hits:
                where[m].append(i)
    for m, idx in where.items():
        if not idx:
            problems.append(f"{m} is in no layer: add it to the layer map (pdelearn/_layers.py)")
        elif len(idx) > 1:
            problems.append(f"{m} is in {len(idx)} layers: {[layers[i].name for i in idx]}")
    return {m: idx[0] for m, idx in where.items() if idx}, problems


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
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
    return out


def violations(root: Path, layers) -> list[str]:
    """Everything wrong with the package ``root`` against ``layers``: unplaced modules, upward imports, forbidden
    third-party imports, import cycles."""
    mods = modules(root)
    layer_of, problems = placed(root, layers)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for target, line, how in imports(m, path, mods):
            where = f"{path.relative_to(root.parent)}:{line}"
            if target.startswith("<"):
                problems.append(f"{where}: {target}: the layer test cannot see what it loads; name the modules")
                continue
            if not m.startswith(target + "."):  # a package's own __init__ runs before its modules anyway
                edges[m].add(target)
            if m in layer_of and target in layer_of and layer_of[target] > layer_of[m]:
                problems.append(f"{where}: {m} (layer {layers[layer_of[m]].name!r}) imports {target} (layer "
                                f"{layers[layer_of[target]].name!r}, above it) by {how}")
        if m in layer_of:
            bad = third_party(path) & set(layers[layer_of[m]].forbidden)
            if bad:
                problems.append(f"{m} imports {sorted(bad)}, which its layer {layers[layer_of[m]].name!r} must not")
    for comp in cycles(edges):
        problems.append("import cycle (function-level imports included): " + " <-> ".join(comp))
    return problems


def test_every_module_is_in_one_layer_and_no_import_goes_up():
    assert violations(PACKAGE, LAYERS) == []


def test_the_core_imports_nothing_above_the_base():
    core = {"pdelearn.terms", "pdelearn.parsing", "pdelearn.equation"}
    mods = modules(PACKAGE)
    for m in core:
        assert {t for t, _, _ in imports(m, mods[m], mods)} <= core | {"pdelearn.errors", "pdelearn.limits"}


def test_architecture_doc_shows_the_map():
    doc = DOC.read_text()
    assert table() in doc, "docs/architecture.md: paste the output of `python -m pdelearn._layers` as its layer table"


# -- the test of the test: a fake package with one upward import of each kind ----------------------------------------

FAKE_LAYERS = (Layer("low", ("low.py", "sub/", "other.py"), "", forbidden=("torch",)),
               Layer("high", ("high.py", "__init__.py"), ""))


def fake(tmp_path: Path, low: str, extra: dict[str, str] | None = None) -> Path:
    root = tmp_path / "fakepkg"
    files = {"__init__.py": "", "high.py": "def g():\n    return 1\n", "low.py": low, "other.py": "",
             "sub/__init__.py": "", "sub/deep.py": ""}
    files.update(extra or {})
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    return root


def test_a_clean_fake_package_passes(tmp_path):
    root = fake(tmp_path, "from . import other\nfrom .sub import deep\n", {"high.py": "from . import low\n"})
    assert violations(root, FAKE_LAYERS) == []


@pytest.mark.parametrize("low, how", [
    ("from . import high\n", "from-import"),
    ("from .high import g\n", "from-import"),
    ("import fakepkg.high\n", "import"),
    ("from fakepkg.high import g\n", "from-import"),
    ("def f():\n    from .high import g\n    return g()\n", "from-import"),
    ("import importlib\n\ndef f():\n    return importlib.import_module('fakepkg.high')\n", "importlib"),
    ("from importlib import import_module\nM = import_module('.high', __package__)\n", "importlib"),
    ("REGISTRY = {'thing': 'fakepkg.high:Thing'}\n", "string"),
    ("from fakepkg import g\n", "from-import"),  # an attribute of the package's __init__ (layer high)
])
def test_an_upward_import_fails(tmp_path, low, how):
    found = violations(fake(tmp_path, low), FAKE_LAYERS)
    assert len(found) == 1 and "fakepkg.low (layer 'low') imports" in found[0] and found[0].endswith(how), found


def test_an_upward_relative_import_from_a_subpackage_fails(tmp_path):
    found = violations(fake(tmp_path, "", {"sub/deep.py": "def f():\n    from ..high import g\n"}), FAKE_LAYERS)
    assert len(found) == 1 and "fakepkg.sub.deep (layer 'low') imports fakepkg.high" in found[0], found


def test_a_lazy_table_counts_as_imports(tmp_path):
    lazy = ("_LAZY = {{'g': '{target}'}}\n\ndef __getattr__(name):\n    import importlib\n"
            "    return getattr(importlib.import_module(f'{prefix}{{_LAZY[name]}}', __package__), name)\n")
    assert violations(fake(tmp_path / "a", "", {"sub/__init__.py": lazy.format(target="deep", prefix=".")}),
                      FAKE_LAYERS) == []
    found = violations(fake(tmp_path / "b", lazy.format(target="high", prefix=".")), FAKE_LAYERS)
    assert len(found) == 1 and found[0].endswith("imports fakepkg.high (layer 'high', above it) by importlib (_LAZY)")
    found = violations(fake(tmp_path / "c", lazy.format(target="high", prefix="fakepkg.")), FAKE_LAYERS)
    assert len(found) == 1 and "cannot see" in found[0], found


def test_a_module_in_no_layer_or_two_fails(tmp_path):
    found = violations(fake(tmp_path, "", {"stray.py": ""}), FAKE_LAYERS)
    assert found == ["fakepkg.stray is in no layer: add it to the layer map (pdelearn/_layers.py)"]
    twice = (FAKE_LAYERS[0], Layer("high", ("high.py", "__init__.py", "low.py"), ""))
    assert any("in 2 layers" in p for p in violations(fake(tmp_path / "b", ""), twice))
    stale = (FAKE_LAYERS[0], Layer("high", ("high.py", "__init__.py", "gone.py"), ""))
    assert any("'gone.py'" in p for p in violations(fake(tmp_path / "c", ""), stale))
    # a module named one by one is taken out of its subpackage's entry
    split = (Layer("low", ("low.py", "other.py", "sub/deep.py"), ""), Layer("high", ("high.py", "__init__.py", "sub/"), ""))
    assert violations(fake(tmp_path / "d", ""), split) == []
    assert "fakepkg.sub.deep (layer 'low') imports fakepkg.high" in " ".join(
        violations(fake(tmp_path / "e", "", {"sub/deep.py": "from .. import high\n"}), split))


def test_a_cycle_through_function_level_imports_fails(tmp_path):
    found = violations(fake(tmp_path, "def f():\n    from . import other\n",
                            {"other.py": "def f():\n    from . import low\n"}), FAKE_LAYERS)
    assert found == ["import cycle (function-level imports included): fakepkg.low <-> fakepkg.other"]


def test_a_forbidden_third_party_import_fails(tmp_path):
    found = violations(fake(tmp_path, "def f():\n    import torch\n"), FAKE_LAYERS)
    assert found == ["fakepkg.low imports ['torch'], which its layer 'low' must not"]
