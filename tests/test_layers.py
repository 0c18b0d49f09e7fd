"""Imports run one way: bot → handlers → scheduler → storage → domain; templates imports none.

Every module of the six packages is parsed with ``ast`` (not imported, so an import inside a
function counts as much as one at the top) and each absolute import of one of our packages is
checked against the order. A relative import would hide its target, so there must be none.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("bot", "handlers", "scheduler", "storage", "domain")  # each may import those after it
LEAF = "templates"  # renders; any layer may use it, it imports none of them


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, wherever it stands; relative ones as '.'."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." if node.level else node.module or ""))
    return found


def violations() -> list[str]:
    rank = {name: index for index, name in enumerate(ORDER)}
    found = []
    for package in (*ORDER, LEAF):
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT)
            for line, module in imports(path):
                if module == ".":
                    found.append(f"{where}:{line}: relative import")
                    continue
                target = module.split(".")[0]
                if target not in rank:
                    continue  # the standard library, a dependency, or templates
                if package == LEAF or rank[target] < rank[package]:
                    found.append(f"{where}:{line}: {package}/ imports {module}")
    return found


def test_every_package_is_checked() -> None:
    for package in (*ORDER, LEAF):
        assert (ROOT / package / "__init__.py").is_file(), package


def test_imports_follow_the_layers() -> None:
    assert violations() == []


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from bot.app import create_app\n    return create_app\n")
    assert imports(module) == [(2, "bot.app")]
