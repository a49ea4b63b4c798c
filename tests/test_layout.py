"""The layout's promises: no import cycle (function-level imports included), no sys.path edits,
and dependencies that point one way (readers and features never import models or the ensemble)."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("preprocessing", "models", "ensemble", "benchmarks")
COMMANDS = {"preprocessing.run", "preprocessing.demo"}  # command-line wrappers over ensemble.api


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50
    assert cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_preprocessing_does_not_depend_on_models_or_the_ensemble():
    wrong = {(module, target) for module, targets in import_graph().items() if module.startswith("preprocessing")
             and module not in COMMANDS for target in targets if target.startswith(("models", "ensemble"))}
    assert wrong == set()


def test_no_file_edits_sys_path():
    offenders = [str(p.relative_to(REPO)) for package in (*PACKAGES, "tests") for p in (REPO / package).rglob("*.py")
                 if "sys.path" in p.read_text(encoding="utf-8") and p.name != "test_layout.py"]
    assert offenders == []


def test_every_installed_command_names_a_function_of_its_module():
    """pyproject's [project.scripts] (kemdy-predict = "ensemble.predict:run", ...) point at module-level functions."""
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    modules = project_modules()
    assert scripts
    for command, target in scripts.items():
        module, _, function = target.partition(":")
        assert module in modules, f"{command}: no module {module}"
        tree = ast.parse(modules[module].read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert function in defined, f"{command}: {module} defines no function {function!r}"
