"""Arbitration: ranking by propensity x value x weight x lever, seeded exploration, cold start."""

from __future__ import annotations

import pytest

from services.decision.domain.arbitration import (
    THOMPSON_SAMPLING,
    Placement,
    Scored,
    arbitrate,
    cold_start_share,
    exploration,
)


def scored(action_id: str, propensity: float, value: float = 1.0, positives: int = 100) -> Scored:
    return Scored(action_id, propensity, value, 1.0, 1.0, positives=positives)


CANDIDATES = [scored("a", 0.2, 2.0), scored("b", 0.5), scored("c", 0.1, 4.0), scored("d", 0.3)]


def first(policy: Placement, seed: int, candidates: list[Scored] = CANDIDATES) -> Scored:
    return arbitrate(candidates, policy, exploration("acme", "p-1", "home", seed), 1)[0]


def test_actions_rank_by_the_product_of_their_parts_ties_by_id() -> None:
    parts = Scored("x", 0.5, 2.0, 1.5, 0.8)
    assert parts.score == pytest.approx(0.5 * 2.0 * 1.5 * 0.8)
    ranked = arbitrate(CANDIDATES, Placement("home"), exploration("acme", "p", "home", 1), 3)
    assert [r.action_id for r in ranked] == ["b", "a", "c"]  # 0.5, 0.4, 0.4 (a before c)
    assert not any(r.explored for r in ranked)


def test_the_same_request_and_seed_draw_the_same_exploration() -> None:
    policy = Placement("home", epsilon=0.5)
    assert [first(policy, s) for s in range(50)] == [first(policy, s) for s in range(50)]
    assert len({first(policy, s).action_id for s in range(50)}) > 1  # seeds do differ


def test_epsilon_greedy_explores_its_share_of_decisions() -> None:
    policy = Placement("home", epsilon=0.2)
    picks = [first(policy, s) for s in range(4000)]
    explored = [p for p in picks if p.explored]
    assert len(explored) / len(picks) == pytest.approx(0.2, abs=0.03)
    assert all("epsilon-greedy" in p.reasons[-1] for p in explored)
    assert all(p.action_id == "b" for p in picks if not p.explored)


def test_a_new_actions_share_grows_with_its_positives_until_it_is_no_longer_new() -> None:
    policy = Placement("home", cold_start_share=0.02, cold_start_positives=10)
    assert [cold_start_share(policy, p) for p in (0, 1, 4, 9, 10)] == pytest.approx(
        [0.02, 0.04, 0.1, 0.2, 0.0]
    )

    def share(positives: int) -> float:
        candidates = [*CANDIDATES, scored("new", 0.01, positives=positives)]
        picks = [first(policy, s, candidates) for s in range(4000)]
        return sum(p.action_id == "new" and p.explored for p in picks) / len(picks)

    shares = [share(p) for p in (0, 4, 9)]
    assert shares[0] == pytest.approx(0.02, abs=0.01)
    assert shares[0] < shares[1] < shares[2]
    assert shares[2] == pytest.approx(0.2, abs=0.03)
    assert share(10) == 0.0


def test_nothing_eligible_decides_nothing() -> None:
    assert arbitrate([], Placement("home", epsilon=0.5), exploration("a", "p", "h", 1), 3) == []


def thompson_first(candidates: list[Scored], seeds: int = 2000) -> list[Scored]:
    policy = Placement("home", exploration=THOMPSON_SAMPLING)
    return [first(policy, s, candidates) for s in range(seeds)]


def test_thompson_sampling_tries_an_action_little_served_and_trusts_one_served_often() -> None:
    known = Scored("a", 0.5, 1.0, 1.0, 1.0, positives=100, served=5000)

    def share_of_new(served: int) -> float:
        new = Scored("b", 0.3, 1.0, 1.0, 1.0, positives=100, served=served)
        return sum(p.action_id == "b" for p in thompson_first([known, new])) / 2000

    assert share_of_new(0) > 0.3  # a uniform draw beats about 0.5 that often
    assert share_of_new(5000) < 0.01  # 0.3 +- 0.01 never beats 0.5 +- 0.01
    picks = thompson_first([known, Scored("b", 0.3, 1.0, 1.0, 1.0, positives=100)], 200)
    tried = [p for p in picks if p.action_id == "b"]
    assert all(p.explored and "model's first: a" in p.reasons[-1] for p in tried)
    assert all(not p.explored for p in picks if p.action_id == "a")
    assert tried[0].propensity == 0.3 and tried[0].score == tried[0].drawn  # value etc. 1
    assert "thompson sampling: propensity" in tried[0].reasons[0]


def test_thompson_sampling_is_seeded_and_independent_of_the_candidates_order() -> None:
    candidates = [Scored(a, 0.2, 1.0, 1.0, 1.0, positives=100, served=3) for a in "abcd"]
    forward = [p.action_id for p in thompson_first(candidates, 100)]
    assert forward == [p.action_id for p in thompson_first(candidates[::-1], 100)]
    assert len(set(forward)) == 4
