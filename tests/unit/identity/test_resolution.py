"""Resolution scenarios on the pure domain: a sequence of events -> the expected graph."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from services.identity.domain.events import IdentifiersDropped, ProfileFlagged
from services.identity.domain.identifiers import normalise
from services.identity.domain.rules import DEFAULT_RULES, IdentifierRules, TypeRule
from tests.unit.identity.graph import Graph, keyed

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
Ids = list[tuple[str, str]]
Traits = dict[str, str]


def rules(**changes: TypeRule | int) -> IdentifierRules:
    types = dict(DEFAULT_RULES.types)
    total = changes.pop("max_identifiers", DEFAULT_RULES.max_identifiers)
    types |= {k: v for k, v in changes.items() if isinstance(v, TypeRule)}
    assert isinstance(total, int)
    return replace(DEFAULT_RULES, types=types, max_identifiers=total)


@dataclass(frozen=True)
class Scenario:
    name: str
    events: list[tuple[int, Ids] | tuple[int, Ids, Traits]]  # (minutes after T0, ids, traits)
    graph: list[Ids]  # the live profiles' identifiers
    rules: IdentifierRules = DEFAULT_RULES
    reorder: bool = False  # the reversed sequence gives the same graph
    dropped: list[str] = field(default_factory=list)  # reasons recorded
    unmerge: tuple[int, Ids] | None = None  # before event n (or at the end), split these off
    traits: dict[tuple[str, str], Traits] = field(default_factory=dict)  # of an id's profile


def key(type_name: str, raw: str) -> str:
    ident = normalise(type_name, raw, DEFAULT_RULES, keyed)
    assert ident is not None
    return ident.key


A, B, C = ("anonymous_id", "a1"), ("anonymous_id", "a2"), ("anonymous_id", "a3")
D1, D2, D3 = ("device_id", "d1"), ("device_id", "d2"), ("device_id", "d3")
E = ("email", "ann@example.com")
U1, U2 = ("user_id", "u1"), ("user_id", "u2")
ONE_USER = rules(user_id=TypeRule(priority=100, limit=1))
WEEKLY = rules(device_id=TypeRule(priority=50, limit=2, window=timedelta(weeks=1)))

SCENARIOS = [
    Scenario("new person", [(0, [A])], [[A]]),
    Scenario("same identifier twice is one person", [(0, [A]), (1, [A])], [[A]]),
    Scenario("anonymous then login", [(0, [A]), (1, [A, U1])], [[A, U1]], reorder=True),
    Scenario("two strangers stay two", [(0, [A]), (1, [B])], [[A], [B]], reorder=True),
    Scenario(
        "two devices then one email merge",
        [(0, [D1]), (1, [D2]), (2, [D1, E]), (3, [D2, E])],
        [[D1, D2, E]],
        reorder=True,
    ),
    Scenario(
        "one event meeting two profiles merges them",
        [(0, [D1]), (1, [D2]), (2, [D1, D2])],
        [[D1, D2]],
        reorder=True,
    ),
    Scenario(
        "chain merge of three",
        [(0, [A]), (1, [B]), (2, [C]), (3, [A, B, C, E])],
        [[A, B, C, E]],
        reorder=True,
    ),
    Scenario(
        "chain merge of three, one link at a time",
        [(0, [A]), (1, [B]), (2, [C]), (3, [A, B]), (4, [B, C])],
        [[A, B, C]],
        reorder=True,
    ),
    Scenario(
        "merge refused by a user_id limit of 1",
        [(0, [D1, U1]), (1, [D2, U2]), (2, [D1, D2])],
        [[D1, U1], [D2, U2]],
        rules=ONE_USER,
        dropped=["limit:user_id"],
    ),
    Scenario(
        "the higher-priority identifier keeps its profile when a merge is refused",
        [(0, [D1, U1]), (1, [D2, U2]), (2, [U2, D1, A])],
        [[D1, U1], [D2, U2, A]],
        rules=ONE_USER,
        dropped=["limit:user_id"],
    ),
    Scenario(
        "another user on a shared device: the device is dropped, the user is new",
        [(0, [A, U1]), (1, [A, U2])],
        [[A, U1], [U2]],
        rules=ONE_USER,
        dropped=["limit:user_id"],
    ),
    Scenario(
        "time-window limit: a third device within a week is dropped",
        [(0, [U1, D1]), (60, [U1, D2]), (120, [U1, D3])],
        [[U1, D1, D2]],
        rules=WEEKLY,
        dropped=["limit:device_id"],
    ),
    Scenario(
        "time-window limit: after a week a new device fits",
        [(0, [U1, D1]), (60, [U1, D2]), (8 * 24 * 60, [U1, D3])],
        [[U1, D1, D2, D3]],
        rules=WEEKLY,
    ),
    Scenario(
        "blocklisted values never match",
        [(0, [A, ("device_id", "undefined")]), (1, [B, ("device_id", "undefined")])],
        [[A], [B]],
        reorder=True,
    ),
    Scenario(
        "test@test.com never merges strangers",
        [(0, [A, ("email", "test@test.com")]), (1, [B, ("email", " TEST@test.com")])],
        [[A], [B]],
    ),
    Scenario(
        "email case and space variants are one email",
        [(0, [A, ("email", " Ann@Example.COM")]), (1, [B, ("email", "ann@example.com ")])],
        [[A, B, E]],
        reorder=True,
    ),
    Scenario(
        "phone formats are one phone",
        [(0, [A, ("phone", "+1 (312) 555-0100")]), (1, [B, ("phone", "312.555.0100")])],
        [[A, B, ("phone", "+13125550100")]],
        reorder=True,
    ),
    Scenario(
        "mega-profile cap: a full profile stops absorbing",
        [(0, [D1, D2]), (1, [D3, A]), (2, [D1, D3])],
        [[D1, D2], [D3, A]],
        rules=rules(max_identifiers=3),
        dropped=["max_identifiers"],
    ),
    Scenario(
        "mega-profile cap: new identifiers past the total are dropped",
        [(0, [D1, D2, D3]), (1, [D1, A])],
        [[D1, D2, D3]],
        rules=rules(max_identifiers=3),
        dropped=["max_identifiers"],
    ),
    Scenario(
        "merged profiles keep merging: two merges into one survivor",
        [(0, [A]), (1, [B]), (2, [A, B]), (3, [C]), (4, [C, B])],
        [[A, B, C]],
        reorder=True,
    ),
    Scenario(
        "unmerge splits a wrong merge and re-derives each side's traits",
        [
            (0, [D1], {"plan": '"free"', "city": '"Paris"'}),
            (1, [D2], {"plan": '"gold"'}),
            (2, [D1, D2]),
            (3, [D2], {"city": '"Lyon"'}),
        ],
        [[D1], [D2]],
        unmerge=(4, [D2]),
        traits={
            D1: {"plan": '"free"', "city": '"Paris"'},
            D2: {"plan": '"gold"', "city": '"Lyon"'},
        },
    ),
    Scenario(
        "unmerge: the event that bridged both sides belongs to both",
        [(0, [D1, A]), (1, [D2]), (2, [D1, D2], {"vip": "true"})],
        [[D1, A], [D2]],
        unmerge=(3, [D2]),
        traits={D1: {"vip": "true"}, D2: {"vip": "true"}},
    ),
    Scenario(
        "unmerge of a chain merge: a profile merged twice splits by identifiers",
        [
            (0, [A], {"n": "1"}),
            (1, [B], {"n": "2"}),
            (2, [C], {"n": "3"}),
            (3, [A, B]),
            (4, [B, C]),
        ],
        [[A, B], [C]],
        unmerge=(5, [C]),
        traits={A: {"n": "2"}, C: {"n": "3"}},
    ),
    Scenario(
        "a late event after an unmerge joins the split-off side only",
        [
            (0, [D1], {"plan": '"free"'}),
            (1, [D2]),
            (2, [D1, D2]),
            (30, [D2, E], {"plan": '"gold"'}),
        ],
        [[D1], [D2, E]],
        unmerge=(3, [D2]),
        traits={D1: {"plan": '"free"'}, D2: {"plan": '"gold"'}},
    ),
    Scenario(
        "a late event older than the split-off side's trait does not overwrite it",
        [(0, [D1]), (20, [D2], {"plan": '"gold"'}), (21, [D1, D2]), (5, [D2], {"plan": '"free"'})],
        [[D1], [D2]],
        unmerge=(3, [D2]),
        traits={D1: {}, D2: {"plan": '"gold"'}},
    ),
]


def run(s: Scenario, events: list[tuple[int, Ids] | tuple[int, Ids, Traits]]) -> Graph:
    graph = Graph(rules=s.rules)
    for n, (minutes, ids, *traits) in enumerate(events):
        if s.unmerge is not None and s.unmerge[0] == n:
            graph.unmerge(T0 + timedelta(days=1), s.unmerge[1])
        graph.ingest(f"m{n}", T0 + timedelta(minutes=minutes), ids, traits[0] if traits else None)
    if s.unmerge is not None and s.unmerge[0] == len(events):
        graph.unmerge(T0 + timedelta(days=1), s.unmerge[1])
    return graph


@pytest.mark.parametrize("s", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_resolution_scenario(s: Scenario) -> None:
    graph = run(s, s.events)
    assert graph.partition() == {frozenset(key(*i) for i in ids) for ids in s.graph}
    recorded = [
        e.reason
        for events in graph.log.values()
        for e in events
        if isinstance(e, IdentifiersDropped)
    ]
    assert sorted(set(recorded)) == sorted(set(s.dropped))
    for i in graph.owners:  # every identifier on exactly one live profile
        assert sum(1 for p in graph.live() if i in p.identifiers) == 1
    if s.reorder:
        assert run(s, list(reversed(s.events))).partition() == graph.partition()
    for ident, traits in s.traits.items():
        profile = graph.lookup(*ident)
        assert profile is not None
        assert {k: v.json_value for k, v in profile.traits.items()} == traits
    replayed = graph.replayed()  # each stream alone gives the profile (re-derived included)
    for profile in graph.live():
        again = replayed[profile.profile_id]
        assert (again.links, again.traits, again.consent) == (
            profile.links,
            profile.traits,
            profile.consent,
        )


def test_the_oldest_profile_survives_and_the_merged_id_is_an_alias() -> None:
    graph = Graph()
    first = graph.ingest("m1", T0, [D1]).profile.profile_id
    second = graph.ingest("m2", T0 + timedelta(minutes=1), [D2]).profile.profile_id
    merged = graph.ingest("m3", T0 + timedelta(minutes=2), [D2, D1, E])
    assert merged.plan.survivor == first and merged.plan.absorbed == (second,)
    assert graph.by_id(second).profile_id == first
    assert graph.lookup("email", "ANN@example.com ") is graph.by_id(first)


def test_every_link_records_the_message_that_brought_it() -> None:
    graph = Graph()
    graph.ingest("m1", T0, [D1])
    graph.ingest("m2", T0 + timedelta(minutes=1), [D2])
    profile = graph.ingest("m3", T0 + timedelta(minutes=2), [D1, D2]).profile
    links = {link.identifier.value: link for link in profile.links.values()}
    assert (links["d1"].message_id, links["d1"].link_time) == ("m1", T0)
    assert (links["d2"].message_id, links["d2"].link_time) == ("m2", T0 + timedelta(minutes=1))


def test_the_mega_profile_is_flagged_once() -> None:
    graph = Graph(rules=rules(max_identifiers=2))
    graph.ingest("m1", T0, [D1, D2])
    graph.ingest("m2", T0, [D1, D3])
    graph.ingest("m3", T0, [D1, A])
    flags = [e for events in graph.log.values() for e in events if isinstance(e, ProfileFlagged)]
    assert len(flags) == 1 and flags[0].reason == "max_identifiers"


@pytest.mark.parametrize("merge_first", [True, False])
def test_a_late_event_does_not_overwrite_a_newer_trait_before_or_after_a_merge(
    merge_first: bool,
) -> None:
    graph = Graph()
    graph.ingest("m1", T0 + timedelta(hours=2), [D1], traits={"plan": '"gold"'})
    graph.ingest("m2", T0 + timedelta(hours=3), [D2], traits={"plan": '"platinum"'})
    late = ("m9", T0 + timedelta(hours=1), [D2], {"plan": '"free"'})
    if not merge_first:
        graph.ingest(*late[:3], traits=late[3])
    graph.ingest("m3", T0 + timedelta(hours=4), [D1, D2])
    if merge_first:
        graph.ingest(*late[:3], traits=late[3])
    survivor = graph.lookup("device_id", "d1")
    assert survivor is not None and survivor.traits["plan"].json_value == '"platinum"'


def test_consent_per_purpose_takes_the_latest_decision_on_merge() -> None:
    graph = Graph()
    graph.ingest("m1", T0 + timedelta(hours=2), [D1], consent={"email_marketing": False})
    graph.ingest("m2", T0, [D2], consent={"email_marketing": True, "analytics": True})
    graph.ingest("m3", T0 + timedelta(hours=3), [D1, D2])
    survivor = graph.lookup("device_id", "d2")
    assert survivor is not None
    assert survivor.consent == {"email_marketing": False, "analytics": True}


def test_replaying_the_streams_gives_the_same_profiles() -> None:
    graph = run(SCENARIOS[6], SCENARIOS[6].events)
    again = graph.replayed()
    for pid, profile in graph.profiles.items():
        got = again[pid]
        assert (got.links, got.traits, got.merged_into) == (
            profile.links,
            profile.traits,
            profile.merged_into,
        )
