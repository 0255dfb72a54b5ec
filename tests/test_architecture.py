"""The package's structural promises (docs/architecture.md), checked on the source: no import cycle, the inversion stage
imports nothing from the fusion stage, no function is longer than 80 lines, resume is defined in one
module, and the package never resolves files relative to the source checkout."""

from __future__ import annotations

import ast
import re
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
    assert "bigprior.fusion.loading" in _imported(PACKAGE / "pipeline.py")  # the import reader resolves relative imports


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


def _module_name(path: Path) -> str:
    parts = ["bigprior", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at module level or inside a function alike (a
    deferred import that works around a cycle is still a cycle); not the packages above it."""
    modules = {_module_name(path): path for path in _modules()}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imported(path):
            if imported in modules:
                targets.add(imported)
            elif imported.rpartition(".")[0] in modules:  # `from .module import name`
                targets.add(imported.rpartition(".")[0])
        # a package's own __init__ runs before any of its modules: an edge to it is no cycle
        graph[name] = {target for target in targets if target != name and not name.startswith(target + ".")}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "bigprior.experiment" in graph["bigprior.commandline"]  # the graph sees the package's imports
    assert not import_cycles(graph), import_cycles(graph)


DOCS = PACKAGE.parents[1] / "docs" / "architecture.md"


def _layout_block() -> list[str]:
    """The lines of the layout's code block in docs/architecture.md."""
    text = DOCS.read_text()
    block = text[text.index("## Package layout"):].split("```")[1]
    return block.splitlines()


DESCRIPTION_COLUMN = 20  # layout lines indented this far continue the entry above


def named_modules() -> list[str]:
    """Every module and folder the layout names, as paths from the repository root. An entry line is
    `<indent><name>[, <name>...]  <description>`: its names are relative to the folder entry it is
    indented under; the `.py` files its description names lie in the entry's own folder (a folder
    entry) or beside it (a file entry); lines indented to the description column continue an entry."""
    names: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, folder path) of the enclosing folder entries
    folder = ""  # where the current entry's description names its modules
    for line in _layout_block():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent < DESCRIPTION_COLUMN:
            head, _, description = line.strip().partition("  ")
            while stack and stack[-1][0] >= indent:
                stack.pop()
            parent = stack[-1][1] if stack else ""
            entries = [parent + name.strip() for name in head.split(",") if name.strip()]
            names += entries
            folder = entries[0] if entries[0].endswith("/") else parent
            if entries[0].endswith("/"):
                stack.append((indent, entries[0]))
        else:
            description = line
        names += [folder + word for word in re.findall(r"(?<![\w/.<])([a-z_0-9]+(?:/[a-z_0-9]+)*\.py)\b", description)]
    return [name for name in dict.fromkeys(names) if "<" not in name and "*" not in name]


def test_every_module_the_architecture_names_exists():
    names = named_modules()
    assert "code/bigprior/fusion/networks.py" in names and "code/bigprior/generators/pggan/network.py" in names
    missing = [name for name in names if not (PACKAGE.parents[1] / name).exists()]
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_package_module_is_in_the_architecture():
    named = set(named_modules())
    modules = [str(path.relative_to(PACKAGE.parents[1])) for path in _modules() if path.name != "__init__.py"]
    unnamed = [m for m in modules if m not in named and not any(m.startswith(n) for n in named if n.endswith("/"))]
    assert not unnamed, f"modules missing from docs/architecture.md: {unnamed}"


EXPERIMENTS = PACKAGE.parents[1] / "experiments"


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.rglob("*.py")), ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_experiment_script_imports_what_the_package_has(path):
    """The scripts that make results/ import the installed package: every name they import from it exists (a
    script left behind by a refactor fails here, not months later when its results are remade)."""
    import importlib

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bigprior"):
            module = importlib.import_module(node.module)
            missing = [alias.name for alias in node.names if not hasattr(module, alias.name)
                       and importlib.util.find_spec(f"{node.module}.{alias.name}") is None]
            assert not missing, f"{path.name}: from {node.module} import {', '.join(missing)}: not in the package"
