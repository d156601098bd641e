"""Engine workarounds stay listed in one place, and pipeline code never depends on the local engine."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import chargeback
from chargeback.local.engine_differences import ENGINE_DIFFERENCES

PACKAGE = Path(chargeback.__file__).resolve().parent
# The edges that run on a laptop: they may start the embedded engine and open a local lakehouse.
LOCAL_EDGES = ("local", "cli.py", "__main__.py", "dashboard")
KEYS = {d.key for d in ENGINE_DIFFERENCES}
REFERENCE = re.compile(r"engine: ([a-z0-9-]+)")


def _pipeline_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] not in LOCAL_EDGES]


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_pipeline_code_never_imports_the_local_engine() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(m for m in _imported_modules(path) if m.startswith(local))
        for path in _pipeline_modules()
        for local in ("chargeback.local", "pysail")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(_pipeline_modules()) > 30, "the walk found the package's modules"


def test_the_import_check_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from chargeback.local.engine import local_session\n")
    assert "chargeback.local.engine" in _imported_modules(module)


def test_every_mention_of_the_local_engine_names_a_listed_difference() -> None:
    unlisted = {}
    for path in _pipeline_modules():
        text = path.read_text()
        references = set(REFERENCE.findall(text))
        if references - KEYS:
            unlisted[str(path.relative_to(PACKAGE))] = sorted(references - KEYS)
        elif re.search(r"\bSail\b", text) and not references:
            unlisted[str(path.relative_to(PACKAGE))] = ["mentions Sail without `engine: <key>`"]
    assert unlisted == {}


def test_no_listed_difference_is_stale() -> None:
    referenced = set()
    for path in _pipeline_modules():
        referenced |= set(REFERENCE.findall(path.read_text()))
    for path in (PACKAGE / "local").rglob("*.py"):
        if path.name != "engine_differences.py":
            referenced |= set(REFERENCE.findall(path.read_text()))
    assert KEYS - referenced == set(), "each difference is handled somewhere, and says so"
    assert len(KEYS) == len(ENGINE_DIFFERENCES), "keys are unique"
