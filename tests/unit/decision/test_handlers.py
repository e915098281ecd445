"""The decision service's handlers on the in-memory unit of work: no database, same contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.decision import handlers
from services.decision.domain.models import Deployment, ModelVersion, Signature, Stage, TensorSpec
from services.decision.store.memory import InMemoryDecisionUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.errors import AlreadyExists, NotFound
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.profile_changes import ProfileChange, ProfilesMerge

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
ANN = Principal("acme", Actor("ann", PrincipalKind.PERSON), frozenset({Role.ADMIN}))
BOB = Principal("acme", Actor("bob", PrincipalKind.PERSON), frozenset({Role.ADMIN}))
SIGNATURE = Signature(
    (TensorSpec("x", "tensor(float)", (-1, 1)),), (TensorSpec("p", "tensor(float)", (-1, 2)),)
)


def model(version: str, sha: str = "aa" * 32) -> ModelVersion:
    return ModelVersion("acme", "propensity", version, sha, 4, ("a",), SIGNATURE, "p", "ann")


def test_features_follow_changes_and_merges_and_commit_with_the_consumer() -> None:
    db = in_memory(FixedClock(NOW))
    with InMemoryDecisionUnitOfWork(db) as uow:
        handlers.record_profile_change(uow, ProfileChange("acme", "p-1", 3, {"orders": 2}))
        handlers.record_profile_change(uow, ProfileChange("acme", "p-2", 4, {"visits": 7}))
    with InMemoryDecisionUnitOfWork(db) as uow:
        assert handlers.profile_features(uow, "acme", "p-1") is None  # not committed
        handlers.record_profile_change(uow, ProfileChange("acme", "p-1", 3, {"orders": 2}))
        handlers.record_profile_change(uow, ProfileChange("acme", "p-2", 4, {"visits": 7}))
        handlers.record_profiles_merge(uow, ProfilesMerge("acme", "p-1", ("p-2",), 5))
        uow.commit()
    with InMemoryDecisionUnitOfWork(db) as uow:
        found = handlers.get_features(uow, "acme", "p-1")
        assert found.values["trait_orders"] == 2.0 and found.values["trait_visits"] == 7.0
        with pytest.raises(NotFound):
            handlers.get_features(uow, "acme", "p-2")


def test_a_version_names_one_file_forever() -> None:
    db = in_memory(FixedClock(NOW))
    with InMemoryDecisionUnitOfWork(db) as uow:
        handlers.register_model(uow, model("1"), b"first")
    with InMemoryDecisionUnitOfWork(db) as uow:
        assert handlers.register_model(uow, model("1"), b"first") == model("1")  # a retry
        with pytest.raises(AlreadyExists, match="another file"):
            handlers.register_model(uow, model("1", sha="bb" * 32), b"other")
        assert handlers.model_file(uow, "acme", "propensity", "1") == (model("1"), b"first")
        with pytest.raises(NotFound):
            handlers.model_file(uow, "acme", "propensity", "2")


def test_a_promotion_serves_only_once_approved_and_published() -> None:
    db = in_memory(FixedClock(NOW))
    with InMemoryDecisionUnitOfWork(db) as uow:
        handlers.register_model(uow, model("1"), b"one")
        handlers.promote_model(uow, ANN, "propensity", "1", Stage.CHAMPION, 0.0, "first")
    with InMemoryDecisionUnitOfWork(db) as uow:
        assert handlers.live_deployment(uow, "acme", "propensity") == (0, Deployment())
        assert handlers.published_models(uow) == []
        handlers.approve_model_change(uow, BOB, "propensity", "looks right")
        handlers.publish_model_change(uow, ANN, "propensity", "go")
    with InMemoryDecisionUnitOfWork(db) as uow:
        number, live = handlers.live_deployment(uow, "acme", "propensity")
        assert live == Deployment(champion="1") and number == 1
        assert handlers.published_models(uow) == [("acme", "propensity")]
    assert [m.subject for m in db.state.outbox] == [
        "layercake.acme.decision.model_deployment_published"
    ]


def test_promoting_an_unregistered_version_is_not_found() -> None:
    with InMemoryDecisionUnitOfWork(in_memory(FixedClock(NOW))) as uow, pytest.raises(NotFound):
        handlers.promote_model(uow, ANN, "propensity", "7", Stage.SHADOW, 0.0, "why")
