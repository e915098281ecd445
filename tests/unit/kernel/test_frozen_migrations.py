"""Every migration is frozen: it spells out its tables, so a later change to a live
`tables`/`schema` module can never rewrite what an old revision creates."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).parents[3] / "services"
MIGRATIONS = sorted(
    p
    for p in SERVICES.glob("*/store/**/migrations/**/*.py")
    if p.name not in {"__init__.py", "env.py"}
)


def live_imports(path: Path) -> list[str]:
    """Modules a migration imports that hold live tables (`...tables`, `...schema`),
    and `create_all` wherever it is called."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found += [n for n in names if n.rsplit(".", 1)[-1] in {"tables", "schema"}]
        if isinstance(node, ast.Attribute) and node.attr == "create_all":
            found.append("create_all")
    return found


def test_every_service_has_migrations_to_check() -> None:
    assert {p.parts[len(SERVICES.parts)] for p in MIGRATIONS} >= {
        "kernel",
        "identity",
        "gateway",
        "orchestrator",
        "decision",
    }


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.stem)
def test_no_migration_builds_tables_from_live_modules(path: Path) -> None:
    assert live_imports(path) == [], f"{path.name} builds tables from a live module"


def test_the_check_sees_a_live_import(tmp_path: Path) -> None:
    bad = tmp_path / "x_0001.py"
    bad.write_text(
        "from services.identity.store.tables import metadata\n"
        "from services.kernel.store import schema\n"
        "metadata.create_all(bind)\n"
    )
    assert live_imports(bad) == [
        "services.identity.store.tables",
        "services.kernel.store.schema",
        "create_all",
    ]
