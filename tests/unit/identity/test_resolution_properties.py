"""Properties of resolution over random event sequences (Hypothesis)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.identity.domain.rules import DEFAULT_RULES, TypeRule
from tests.unit.identity.graph import Graph

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RULES = DEFAULT_RULES.__class__(
    types=dict(DEFAULT_RULES.types)
    | {"user_id": TypeRule(100, 1), "device_id": TypeRule(50, 2), "cookie_id": TypeRule(20, 3)},
    max_identifiers=6,
)
identifier = st.tuples(
    st.sampled_from(["user_id", "device_id", "cookie_id", "email"]),
    st.sampled_from(["v1", "v2", "v3", "v4", "v5"]),
).map(lambda t: (t[0], f"{t[1]}@x.io" if t[0] == "email" else t[1]))
event = st.tuples(st.integers(0, 10_000), st.lists(identifier, min_size=1, max_size=4))


def build(events: list[tuple[int, list[tuple[str, str]]]]) -> Graph:
    graph = Graph(rules=RULES)
    for n, (minutes, ids) in enumerate(events):
        graph.ingest(f"m{n}", T0 + timedelta(minutes=minutes), ids, traits={"n": str(n)})
    return graph


@settings(max_examples=150, deadline=None)
@given(st.lists(event, max_size=25))
def test_random_sequences_keep_the_graph_sound(
    events: list[tuple[int, list[tuple[str, str]]]],
) -> None:
    graph = build(events)
    held = Counter(i for p in graph.live() for i in p.identifiers)
    assert all(n == 1 for n in held.values()), "an identifier on two live profiles"
    assert set(held) == set(graph.owners)
    for profile in graph.live():
        per_type = Counter(i.type for i in profile.identifiers)
        assert all(n <= RULES.rule(t).limit for t, n in per_type.items()), per_type
        assert len(profile.identifiers) <= RULES.max_identifiers
    again = build(events)
    assert again.partition() == graph.partition()
    replayed = graph.replayed()
    for pid, profile in graph.profiles.items():
        assert (replayed[pid].links, replayed[pid].traits, replayed[pid].merged_into) == (
            profile.links,
            profile.traits,
            profile.merged_into,
        )
