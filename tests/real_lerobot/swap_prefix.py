"""Rewrite LeRobot's own test files as a user switching to lerobot_stream would: ``lerobot.`` becomes
``lerobot_stream.`` wherever lerobot_stream provides the module and the name.

    python tests/real_lerobot/swap_prefix.py FOLDER...   # rewrites every .py file under the folders in place

Names lerobot_stream deliberately does not provide (the training side, the Hub helpers a test patches,
``RunningQuantileStats``, ...) stay LeRobot's, so a test that also touches those still runs: it measures
lerobot_stream where lerobot_stream is used. Three forms are rewritten:

* ``from lerobot.a.b import x, y``: name by name (a statement whose names split is written as two);
* ``import lerobot.a.b [as m]``: the module, and ``lerobot.a.b.`` where the code refers to it by that path;
* a string naming ``lerobot.a.b.x`` (a ``mock.patch``/``monkeypatch`` target): when ``x`` is provided.

Run it with the interpreter of the environment that will run the tests: what "provided" means is decided by
importing lerobot_stream there.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from functools import cache
from pathlib import Path

OLD, NEW = "lerobot", "lerobot_stream"


@cache
def _module(name: str) -> object | None:
    try:
        return importlib.import_module(name)
    except Exception:  # absent, or needs what this environment lacks: not provided
        return None


def provides(module: str, name: str | None = None) -> bool:
    """Does lerobot_stream provide LeRobot's ``module`` (a ``lerobot.`` path), and ``name`` in it?"""
    ours = _module(NEW + module[len(OLD) :])
    if ours is None:
        return False
    return name is None or hasattr(ours, name) or _module(f"{NEW}{module[len(OLD) :]}.{name}") is not None


def _swap_string(match: re.Match) -> str:
    """A dotted ``lerobot.`` path in a string: swapped if lerobot_stream has it (module, or module + name)."""
    path = match.group(2)
    module, _, name = path.rpartition(".")
    if provides(path) or (module.startswith(OLD + ".") and provides(module, name)):
        return match.group(1) + NEW + path[len(OLD) :] + match.group(1)
    return match.group(0)


def _from_import(node: ast.ImportFrom, indent: str) -> str | None:
    module = node.module or ""
    if node.level or not (module == OLD or module.startswith(OLD + ".")):
        return None
    swapped = [a for a in node.names if a.name != "*" and provides(module, a.name)]
    if not swapped:
        return None
    kept = [a for a in node.names if a not in swapped]

    def statement(target: str, aliases: list[ast.alias]) -> str:
        names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in aliases)
        return f"{indent}from {target} import {names}"

    lines = [statement(NEW + module[len(OLD) :], swapped)]
    if kept:
        lines.append(statement(module, kept))
    return "\n".join(lines)


def swap_source(source: str) -> str:
    """The source with LeRobot's names replaced by lerobot_stream's where it provides them."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []  # (first line, last line, new text), 1-based
    module_paths: list[str] = []
    for node in ast.walk(tree):
        indent = " " * getattr(node, "col_offset", 0)
        if isinstance(node, ast.ImportFrom):
            text = _from_import(node, indent)
            if text is not None:
                edits.append((node.lineno, node.end_lineno, text + "\n"))
        elif isinstance(node, ast.Import) and any(
            a.name.startswith(OLD + ".") and provides(a.name) for a in node.names
        ):
            names = []
            for alias in node.names:
                name = alias.name
                if name.startswith(OLD + ".") and provides(name):
                    module_paths.append(name)
                    name = NEW + name[len(OLD) :]
                names.append(name + (f" as {alias.asname}" if alias.asname else ""))
            edits.append((node.lineno, node.end_lineno, f"{indent}import {', '.join(names)}\n"))
    for first, last, text in sorted(edits, reverse=True):
        lines[first - 1 : last] = [text]
    result = "".join(lines)
    for path in sorted(set(module_paths), key=len, reverse=True):  # `lerobot.a.b.x` in code, not in strings
        result = re.sub(rf"(?<![\w.\"']){re.escape(path)}\.", NEW + path[len(OLD) :] + ".", result)
    return re.sub(r"([\"'])(lerobot(?:\.\w+)+)\1", _swap_string, result)


def main(folders: list[str]) -> int:
    changed = 0
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.py")):
            source = path.read_text()
            swapped = swap_source(source)
            if swapped != source:
                path.write_text(swapped)
                changed += 1
    print(f"swap_prefix: {changed} file(s) now import lerobot_stream where it provides LeRobot's names")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
