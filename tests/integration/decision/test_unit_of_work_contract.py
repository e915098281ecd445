"""The decision service's unit of work, in memory and on SQLite/PostgreSQL: the kernel's
promises, and those of its features, model versions and assets repositories."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.decision.bootstrap import MIGRATIONS, PROJECTIONS
from services.decision.domain.actions import ExposureCount, Exposures
from services.decision.domain.arbitration import Scored
from services.decision.domain.decisions import (
    DecideCommand,
    Decision,
    ModelUsed,
    Outcome,
    OutcomeKind,
)
from services.decision.domain.features import ProfileFeatures
from services.decision.domain.models import (
    Deployment,
    ModelVersion,
    Signature,
    Stage,
    TensorSpec,
)
from services.decision.mapping import MODEL, deployment_proto
from services.decision.ports import DecisionUnitOfWork
from services.decision.store.memory import DecisionState, InMemoryDecisionUnitOfWork
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.assets import Action, AssetMetadata
from services.kernel.assets.handlers import edit_asset, transition_asset
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.profile_copies import ProfileCopies
from services.kernel.unit_of_work import AbstractUnitOfWork
from tests.conftest import ALL_BACKENDS, random_id
from tests.contracts.unit_of_work import ProfileCopiesContract, Units, units_for

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)
SIGNATURE = Signature(
    (TensorSpec("x", "tensor(float)", (-1, 2)),), (TensorSpec("p", "tensor(float)", (-1, 2)),)
)


def model(version: str = "1", tenant_id: str = "acme", sha: str = "ab" * 32) -> ModelVersion:
    return ModelVersion(
        tenant_id, "propensity", version, sha, 3, ("a", "b"), SIGNATURE, "p", "ann", "d", {"k": "v"}
    )


def port(uow: AbstractUnitOfWork) -> DecisionUnitOfWork:
    assert isinstance(uow, DecisionUnitOfWork)
    return uow


class TestDecisionUnitOfWork(ProfileCopiesContract):
    @pytest.fixture(params=ALL_BACKENDS)
    def units(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Units]:
        with units_for(
            request.param,
            tmp_path,
            MIGRATIONS,
            SqlDecisionUnitOfWork,
            InMemoryDecisionUnitOfWork,
            DecisionState,
            PROJECTIONS,
        ) as units:
            yield units

    def copy(
        self, version: int, tenant_id: str = "acme", profile_id: str = "p-1"
    ) -> ProfileFeatures:
        values = {"trait_orders": 2.5, "consent_email_marketing": 1.0}
        return ProfileFeatures(tenant_id, profile_id, version, values, AT, {"trait:orders": 2})

    def copies(self, uow: AbstractUnitOfWork) -> ProfileCopies[ProfileFeatures]:
        return port(uow).features

    def test_a_model_version_is_kept_with_its_bytes_on_commit(self, units: Units) -> None:
        with units.new() as uow:
            port(uow).models.add(model(), b"onnx", AT)
            port(uow).models.add(model("2"), b"onnx2", AT)
            uow.commit()
        with units.new() as uow:
            models = port(uow).models
            assert models.get("acme", "propensity", "1") == model()
            assert models.content("acme", "propensity", "2") == b"onnx2"
            assert models.get("other", "propensity", "1") is None
            assert models.content("acme", "propensity", "3") is None

    def test_model_versions_are_listed_by_name_and_version_after_a_key(self, units: Units) -> None:
        with units.new() as uow:
            for version in ("2", "1", "10"):
                port(uow).models.add(model(version), b"onnx", AT)
            port(uow).models.add(replace(model("1"), model_name="churn"), b"onnx", AT)
            port(uow).models.add(model("1", tenant_id="other"), b"onnx", AT)
            uow.commit()
        with units.new() as uow:
            models = port(uow).models

            def listed(name: str, after: tuple[str, str] | None, limit: int) -> list[str]:
                found = models.list("acme", name, after, limit)
                return [f"{m.model_name}/{m.version}" for m in found]

            every = ["churn/1", "propensity/1", "propensity/10", "propensity/2"]
            assert listed("", None, 10) == every
            assert listed("", ("churn", "1"), 2) == every[1:3]
            assert listed("propensity", None, 10) == every[1:]
            assert listed("propensity", ("propensity", "10"), 10) == ["propensity/2"]

    def test_a_model_version_is_not_kept_without_commit(self, units: Units) -> None:
        with units.new() as uow:
            port(uow).models.add(model("9"), b"onnx", AT)
        with units.new() as uow:
            assert port(uow).models.get("acme", "propensity", "9") is None

    def test_published_assets_are_listed_across_tenants(self, units: Units) -> None:
        content = deployment_proto(Deployment(champion="1"))
        for tenant in ("acme", "zeta"):
            ann = Principal(tenant, Actor("ann", PrincipalKind.PERSON), frozenset({Role.ADMIN}))
            bob = Principal(tenant, Actor("bob", PrincipalKind.PERSON), frozenset({Role.ADMIN}))
            with units.new() as uow:
                repo = port(uow).assets
                meta = AssetMetadata(owner="ann")
                edit_asset(repo, ann, MODEL.name, "propensity", content, meta, at=AT)
                edit_asset(repo, ann, MODEL.name, "draft-only", content, meta, at=AT)
                for who, action in (
                    (ann, Action.SUBMIT),
                    (bob, Action.APPROVE),
                    (ann, Action.PUBLISH),
                ):
                    transition_asset(repo, who, MODEL.name, "propensity", action, at=AT)
                uow.commit()
        with units.new() as uow:
            published = port(uow).assets.published(MODEL.name)
        assert [p for p in published if p[0] in ("acme", "zeta")] == [
            ("acme", "propensity"),
            ("zeta", "propensity"),
        ]

    def test_decisions_count_their_actions_and_keep_outcomes(self, units: Units) -> None:
        tenant = random_id("t-")
        first = decision(tenant, "d-1", "p-1", ("water", "soda"), 1)
        with units.new() as uow:
            counted = port(uow).decisions.add(
                tenant, [first, decision(tenant, "d-2", "p-2", ("water",), 2)]
            )
            uow.commit()
        assert sorted(counted, key=str) == sorted(
            [
                ExposureCount("water", "", 2),
                ExposureCount("water", "p-1", 1),
                ExposureCount("water", "p-2", 1),
                ExposureCount("soda", "", 1),
                ExposureCount("soda", "p-1", 1),
            ],
            key=str,
        )
        with units.new() as uow:
            log = port(uow).decisions
            counts = log.exposures(tenant, "p-1", ["water", "soda", "tea"])
            assert counts == {
                "water": Exposures(total=2, to_profile=1),
                "soda": Exposures(total=1, to_profile=1),
            }
            assert log.outcome_of(tenant, "d-1", "soda") is None
            with pytest.raises(KeyError):
                log.outcome_of(tenant, "d-2", "soda")
            clicked = Outcome(tenant, "d-1", "soda", OutcomeKind.CLICKED, AT)
            assert log.record_outcome(clicked, first_positive=True) == [
                ExposureCount("soda", "", 1, 1)
            ]
            uow.commit()
        with units.new() as uow:
            log = port(uow).decisions
            assert log.outcome_of(tenant, "d-1", "soda") == OutcomeKind.CLICKED
            assert log.exposures(tenant, "p-3", ["soda"])["soda"] == Exposures(1, 0, 1)
            rows = list(log.training_rows(tenant))
        assert [(r.decision_id, r.action_id, r.rank, r.label) for r in rows] == [
            ("d-1", "water", 1, 0),
            ("d-1", "soda", 2, 1),
            ("d-2", "water", 1, 0),
        ]
        assert rows[1].features == {"age": 30.0, "product:soda": 1.0}
        assert (rows[0].profile_id, rows[0].model_version, rows[0].decide_time) == ("p-1", "1", AT)

    def test_a_forgotten_persons_decisions_and_counts_are_deleted(self, units: Units) -> None:
        tenant = random_id("t-")
        with units.new() as uow:
            log = port(uow).decisions
            log.add(
                tenant,
                [
                    decision(tenant, "d-1", "p-1", ("water", "soda"), 1),
                    decision(tenant, "d-2", "p-2", ("water",), 2),
                    decision(tenant, "d-3", "p-1", ("soda",), 3),
                ],
            )
            uow.commit()
        with units.new() as uow:
            assert port(uow).decisions.forget(tenant, ["p-1", "p-9"]) == 2
            assert port(uow).decisions.forget("other", ["p-2"]) == 0
            uow.commit()
        with units.new() as uow:
            log = port(uow).decisions
            assert [r.decision_id for r in log.training_rows(tenant)] == ["d-2"]
            assert log.logged(tenant, ["d-1", "d-2", "d-3"]) == {"d-2"}
            assert log.exposures(tenant, "p-1", ["water", "soda"]) == {
                "water": Exposures(total=2, to_profile=0),
                "soda": Exposures(total=2, to_profile=0),
            }

    def test_a_decision_is_kept_only_on_commit(self, units: Units) -> None:
        tenant = random_id("t-")
        with units.new() as uow:
            port(uow).decisions.add(tenant, [decision(tenant, "d-1", "p-1", ("water",), 1)])
        with units.new() as uow:
            assert port(uow).decisions.exposures(tenant, "p-1", ["water"]) == {}
            assert list(port(uow).decisions.training_rows(tenant)) == []


def decision(
    tenant: str, decision_id: str, profile: str, actions: tuple[str, ...], n: int
) -> Decision:
    return Decision(
        decision_id=decision_id,
        command=DecideCommand(tenant, profile, "drinks", {}),
        decide_time=AT + timedelta(minutes=n) - timedelta(minutes=1),
        profile_version=1,
        model=ModelUsed("drinks", "1", Stage.CHAMPION),
        fallback=False,
        actions=tuple(Scored(a, 0.5, 1.0, 1.0, 1.0) for a in actions),
        rows={a: {"age": 30.0, f"product:{a}": 1.0} for a in actions},
    )
