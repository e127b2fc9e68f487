"""The architecture, as tests: no module imports from a layer above its own, `etl` never imports
Airflow, and only the storage module knows where things live."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "etl"

# lowest first; a module may import from its own layer and the ones below (see etl/__init__.py)
LAYERS = (
    ("etl.errors", "etl.config", "etl.contract", "etl.shares", "etl.duck", "etl.sql", "etl.version"),
    ("etl.storage",),
    ("etl.sources",),
    ("etl.load",),
    ("etl.report",),
    ("etl.delivery",),
    ("etl.pipeline",),
    ("etl.ops",),
    ("etl.devtools", "etl.cli", "etl.__main__"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    for rank, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to etl/__init__.py")


def etl_imports(source: str) -> list[str]:
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import: the package imports absolutely"
            if node.module == "etl":
                found += [f"etl.{alias.name}" for alias in node.names]
            elif node.module and node.module.startswith("etl."):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("etl.")]
    return found


def upward_imports(importer: str, source: str) -> list[str]:
    return [f"{importer} imports {imported}" for imported in etl_imports(source) if layer(imported) > layer(importer)]


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        upward += upward_imports(module_name(path), path.read_text(encoding="utf-8"))
    assert upward == []


def test_the_layer_test_sees_an_upward_import():
    source = "from etl.storage import Storage\n\ndef f():\n    from etl.pipeline import load_day\n"
    assert upward_imports("etl.load.ingest", source) == ["etl.load.ingest imports etl.pipeline"]
    assert upward_imports("etl.report.model", "from etl import sql\nimport etl.delivery.mail\n") == [
        "etl.report.model imports etl.delivery.mail"]


def test_etl_never_imports_airflow():
    for path in PACKAGE.rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+airflow", path.read_text(), re.MULTILINE), path


def test_only_storage_names_the_places_where_data_lives():
    # commands named `archive`, `lake`, `quarantine` and the receipt value "outbox" are words, not locations
    places = re.compile(r"""catalog\.db|["'](lake|landing|reports|archive|outbox|quarantine|trace|loads)["']""")
    named = [f"{path.relative_to(REPO)}:{n}" for path in PACKAGE.rglob("*.py") if "storage" not in path.parts
             for n, line in enumerate(path.read_text().splitlines(), 1) if places.search(line)
             and "add_parser" not in line and "_command(" not in line and "delivered_to" not in line]
    assert named == []
