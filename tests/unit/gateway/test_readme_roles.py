"""The README's table of roles says what `ROLE_SCOPES`, the one definition, grants."""

from __future__ import annotations

import re
from pathlib import Path

from services.kernel.principals import ROLE_SCOPES, Role, Scope

README = Path(__file__).resolve().parents[3] / "README.md"


def documented() -> dict[str, frozenset[str]]:
    rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", README.read_text(), re.MULTILINE)
    table: dict[str, frozenset[str]] = {}
    for role, cell in rows:
        scopes = set(re.findall(r"`([a-z:]+)`", cell))
        if "viewer's" in cell:
            scopes |= table["viewer"]
        if "every scope" in cell:
            scopes |= {s.value for s in Scope}
        table[role] = frozenset(scopes)
    return table


def test_the_readme_table_of_roles_matches_role_scopes() -> None:
    assert documented() == {r.value: frozenset(s.value for s in ROLE_SCOPES[r]) for r in Role}
