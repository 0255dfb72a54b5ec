"""The package's structural promises (docs/architecture.md), checked on the source: the inversion stage
imports nothing from the fusion stage, no function is longer than 80 lines, resume is defined in one
module, and the package never resolves files relative to the source checkout."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "code" / "bigprior"
STAGE_ONE = ("inversion", "generators", "degradations.py")
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """Absolute dotted names of everything `path` imports from the package (relative imports resolved)."""
    package = ["bigprior", *path.relative_to(PACKAGE).parent.parts]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("bigprior")}


def _stage_one_files() -> list[Path]:
    return [p for p in _modules() if p.relative_to(PACKAGE).parts[0] in STAGE_ONE]


def test_the_scan_sees_the_package():
    assert len(_stage_one_files()) > 10 and any(p.name == "invert.py" for p in _stage_one_files())
    assert "bigprior.fusion.model" in _imported(PACKAGE / "pipeline.py")  # the import reader resolves relative imports


@pytest.mark.parametrize("path", _stage_one_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_stage_one_imports_nothing_from_the_fusion_stage(path):
    fusion = sorted(name for name in _imported(path) if name.startswith("bigprior.fusion"))
    assert not fusion, f"{path.relative_to(PACKAGE)} imports {fusion}: stages meet only through bigprior.experiment"


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


def test_resume_is_defined_in_one_module():
    definers = {
        str(path.relative_to(PACKAGE))
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name == "Run"
    }
    assert definers == {"run.py"}


def test_no_path_is_resolved_against_the_source_checkout():
    """`Path(__file__).parents[k]` beyond the package (e.g. into code/mganprior) breaks a non-editable install."""
    offenders = [str(path.relative_to(PACKAGE)) for path in _modules() if "__file__).parents[" in path.read_text()
                 or "__file__).resolve().parents[" in path.read_text()]
    assert not offenders, offenders
