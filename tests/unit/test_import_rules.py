"""The rules of dependency, checked on every module's imports (read with `ast`, nothing imported).

1. Nothing below the CLI imports the CLI: only `rlsys/cli.py`, `rlsys/__main__.py` and
   `rlsys/commands/` may import `rlsys.cli` or `rlsys.commands` (function-level imports count).
2. Core components never import Ray: only `rlsys/actors/`, `rlsys/controller/` and the Ray benches
   may (see docs/architecture.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rlsys"
CLI_LAYER = ("rlsys/cli.py", "rlsys/__main__.py", "rlsys/commands/")
RAY_USERS = ("rlsys/actors/", "rlsys/controller/", "rlsys/bench/corpus_actor_load.py", "rlsys/bench/scaling.py")
CORE = ("rlsys/env/", "rlsys/rollout/", "rlsys/judge/", "rlsys/corpus/", "rlsys/sandbox/", "rlsys/learner/",
        "rlsys/memory_plan/", "rlsys/search/")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]  # `from rlsys import cli`
    return out


def _modules() -> list[tuple[str, Path]]:
    return [(p.relative_to(ROOT).as_posix(), p) for p in sorted(PACKAGE.rglob("*.py"))]


def _is(name: str, target: str) -> bool:
    return name == target or name.startswith(target + ".")


def test_the_walker_sees_relative_from_and_function_level_imports(tmp_path):
    pkg = tmp_path / "rlsys" / "judge"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text("def f():\n    from ..commands import serve\n    import rlsys.cli\nfrom rlsys import cli\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        names = {name for _, name in imports_of(pkg / "x.py")}
    finally:
        ROOT = saved
    assert {"rlsys.commands", "rlsys.commands.serve", "rlsys.cli"} <= names


def test_nothing_below_the_cli_imports_the_cli():
    bad = [f"{rel}:{line} imports {name}"
           for rel, path in _modules() if not rel.startswith(CLI_LAYER)
           for line, name in imports_of(path) if _is(name, "rlsys.cli") or _is(name, "rlsys.commands")]
    assert not bad, "modules below the CLI import it:\n" + "\n".join(bad)


def test_core_components_do_not_import_ray():
    assert len(_modules()) > 100  # the walk found the package
    bad = [f"{rel}:{line} imports {name}"
           for rel, path in _modules() if rel.startswith(CORE) and not rel.startswith(RAY_USERS)
           for line, name in imports_of(path) if _is(name, "ray")]
    assert not bad, "core components import Ray:\n" + "\n".join(bad)
