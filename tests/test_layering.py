"""The architecture, checked from the source so it stays true: which package may import which, no import cycles
between modules, and an installed tree with no generic top-level name (`pyproject.toml`'s package list)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
OURS = ("shm", "workers", "lerobot_stream", "benchmarks", "lerobot_stream_bench")

#: package -> the packages of ours it may import. The frame bus knows nothing of video; the encoder side depends
#: on the bus only; the product on both - and never on the benchmark harness (the CLI finds `bench` through an
#: entry point). The harness may use everything.
ALLOWED = {
    "shm": {"shm"},
    "workers": {"shm", "workers"},
    "lerobot_stream": {"shm", "workers", "lerobot_stream"},
    "benchmarks": {"shm", "workers", "lerobot_stream", "benchmarks"},
}


#: The product's own layers, lowest first: a module may import from its own layer and those below it. LeRobot's
#: module names (datasets, configs, utils) sit over the engine they name - except `configs`, plain data that
#: everything takes; the engine's packages say by their names what they hold (README, "How it works").
PRODUCT_LAYERS: list[set[str]] = [
    {"lerobot_stream.errors", "lerobot_stream.configs", "lerobot_stream.sources"},
    {"lerobot_stream.storage"},  # the dataset on disk
    {"lerobot_stream.compat"},  # LeRobot's argument styles mapped to the project's types
    {"lerobot_stream.recorder"},  # where an episode is committed
    {"lerobot_stream.recovery"},  # after a crash
    {"lerobot_stream.datasets", "lerobot_stream.utils", "lerobot_stream.dropin"},  # LeRobot's module names
    {"lerobot_stream", "lerobot_stream.cli"},
]


def _product_layer(module: str) -> int:
    """The index in `PRODUCT_LAYERS` of the package (or module) ``module`` belongs to."""
    parts = module.split(".")
    for length in (2, 1):
        name = ".".join(parts[:length])
        for index, layer in enumerate(PRODUCT_LAYERS):
            if name in layer:
                return index
    raise AssertionError(f"{module} belongs to no layer of PRODUCT_LAYERS: add its package there")


def _modules() -> dict[str, Path]:
    found = {}
    for package in ALLOWED:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, top_level_only: bool) -> set[str]:
    """The modules of ours that ``name`` imports (``top_level_only``: at import time, not inside functions)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {m for m in found if m.split(".")[0] in OURS}


def test_each_package_imports_only_what_its_layer_allows():
    wrong = []
    for name, path in _modules().items():
        layer = name.split(".")[0]
        for imported in _imports(name, path, top_level_only=False):
            if imported.split(".")[0] not in ALLOWED[layer]:
                wrong.append(f"{name} imports {imported}")
    assert not wrong, wrong


def test_the_products_packages_import_only_their_own_layer_and_those_below():
    """The engine never imports LeRobot's module names or the command line; LeRobot's names never import the
    command line. An import inside a function counts too: it is an arrow all the same."""
    wrong = []
    for name, path in _modules().items():
        if name.split(".")[0] != "lerobot_stream":
            continue
        layer = _product_layer(name)
        for imported in _imports(name, path, top_level_only=False):
            if imported.startswith("lerobot_stream") and imported in _modules() and _product_layer(imported) > layer:
                wrong.append(f"{name} imports {imported}")
    assert not wrong, wrong


def test_no_import_cycles_between_modules():
    """At import time (top-level imports): a cycle makes the import order matter and half-initialised modules
    possible."""
    modules = _modules()
    graph = {
        name: {m for m in _imports(name, path, top_level_only=True) if m in modules and m != name}
        for name, path in modules.items()
    }
    for name in graph:  # a package's __init__ importing its own modules is how packages work, not a cycle
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib reads pyproject.toml from Python 3.11")
def test_the_installed_packages_are_the_trees_packages_and_no_generic_top_level_name():
    import tomllib

    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    on_disk = {
        ".".join(path.parent.relative_to(REPO_ROOT).parts)
        for package in ("shm", "workers", "lerobot_stream")
        for path in (REPO_ROOT / package).rglob("__init__.py")
    }
    assert listed == on_disk | {"lerobot_stream_bench"}, listed ^ (on_disk | {"lerobot_stream_bench"})
    assert setuptools["package-dir"] == {"lerobot_stream_bench": "benchmarks"}  # the harness, under our name
    assert "benchmarks" not in listed
