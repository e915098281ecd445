"""Comparing two identity graphs: which merges a rule change makes and undoes."""

from __future__ import annotations

from services.identity.domain.identifiers import Identifier
from services.identity.domain.rule_preview import compare


def ids(*values: str) -> frozenset[Identifier]:
    return frozenset(Identifier("cookie_id", v) for v in values)


def test_joined_groups_appear_split_ones_disappear_and_kept_ones_do_not_count() -> None:
    published = [ids("a", "b"), ids("c"), ids("d"), ids("e")]
    draft = [ids("a"), ids("b"), ids("c", "d", "x"), ids("e")]
    preview = compare(published, draft, 7)
    assert preview.merges_appearing == (ids("c", "d", "x"),)
    assert preview.merges_disappearing == (ids("a", "b"),)
    assert (preview.messages, preview.profiles_changed) == (7, 3)


def test_the_same_graph_changes_nothing() -> None:
    graph = [ids("a", "b"), ids("c")]
    preview = compare(graph, list(reversed(graph)), 2)
    assert (preview.merges_appearing, preview.merges_disappearing) == ((), ())
    assert preview.profiles_changed == 0
