"""The lifecycle contract every asset kind runs: subclass it with your kind.

    class TestJourneyLifecycle(AssetLifecycleContract):
        kind = JOURNEY                      # an AssetKind
        def content(self, n): ...           # a valid content, different for each n >= 1
        def metadata(self): ...             # metadata satisfying the kind's requirements

Each test runs on the in-memory repository, SQLite and (when LAYERCAKE_TEST_POSTGRES_URL
is set) PostgreSQL, through the kernel's asset handlers and `AssetRepository` port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from google.protobuf.message import Message

from services.kernel.assets import (
    Action,
    Asset,
    AssetKind,
    AssetMetadata,
    AssetState,
    Refusal,
    content_hash,
    diff,
)
from services.kernel.errors import ConcurrencyError, FailedPrecondition, NotFound, PermissionDenied
from services.kernel.principals import Principal, Role
from tests.conftest import random_id
from tests.contracts.asset_harness import (
    ANN,
    BACKENDS,
    BOB,
    BOT,
    CAT,
    OPS,
    ROOT,
    TENANT,
    VIC,
    Assets,
    open_assets,
    person,
)


class AssetLifecycleContract:
    kind: ClassVar[AssetKind]

    def content(self, n: int) -> Message:
        """A valid content, different for each `n` >= 1."""
        raise NotImplementedError

    def metadata(self) -> AssetMetadata:
        """Metadata with every field the kind requires."""
        raise NotImplementedError

    @pytest.fixture(params=BACKENDS)
    def assets(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Assets]:
        with open_assets(
            request.param, tmp_path, kind=self.kind, content=self.content, metadata=self.metadata
        ) as assets:
            yield assets

    def attempt(self, assets: Assets, asset: Asset, action: Action, who: Principal) -> None:
        """One action on a loaded asset with arguments only the lifecycle could refuse."""
        at = assets.now()
        if action == Action.EDIT:
            asset.edit(who, self.content(9), self.metadata(), at=at)
        elif action == Action.APPROVE:
            asset.approve(who, assets.policy(), at=at)
        elif action == Action.ROLLBACK:
            asset.rollback(who, 1, at=at)
        else:
            getattr(asset, action.value)(who, at=at)

    SITUATIONS: ClassVar[list[str]] = [
        "new",
        "draft",
        "submitted",
        "approved",
        "published",
        "paused",
        "draft_over_published",
        "approved_over_paused",
        "archived",
    ]

    def situation(self, assets: Assets, name: str) -> str:
        asset_id = random_id("a-")
        steps: dict[str, list[Action]] = {
            "new": [],
            "draft": [Action.EDIT],
            "submitted": [Action.EDIT, Action.SUBMIT],
            "approved": [Action.EDIT, Action.SUBMIT, Action.APPROVE],
            "published": [],
            "paused": [Action.PAUSE],
            "draft_over_published": [Action.EDIT],
            "approved_over_paused": [Action.PAUSE, Action.EDIT, Action.SUBMIT, Action.APPROVE],
            "archived": [Action.EDIT, Action.ARCHIVE],
        }
        if name in {"published", "paused", "draft_over_published", "approved_over_paused"}:
            assets.publish_new(asset_id, 1)
            assets.publish_new(asset_id, 2)  # so a rollback to version 1 is possible
        for n, action in enumerate(steps[name], start=3):
            if action == Action.EDIT:
                assets.edit(asset_id, n)
            else:
                assets.do(asset_id, action, ROOT if action != Action.APPROVE else CAT)
        return asset_id

    # -- the contract -----------------------------------------------------------------------

    # situation -> {legal action: the asset's state after it}; every other action is refused
    LEGAL: ClassVar[dict[str, dict[Action, AssetState]]] = {
        "new": {Action.EDIT: AssetState.DRAFT},
        "draft": {
            Action.EDIT: AssetState.DRAFT,
            Action.SUBMIT: AssetState.SUBMITTED,
            Action.ARCHIVE: AssetState.ARCHIVED,
        },
        "submitted": {
            Action.EDIT: AssetState.DRAFT,
            Action.APPROVE: AssetState.APPROVED,
            Action.REJECT: AssetState.DRAFT,
            Action.ARCHIVE: AssetState.ARCHIVED,
        },
        "approved": {
            Action.EDIT: AssetState.DRAFT,
            Action.REJECT: AssetState.DRAFT,
            Action.PUBLISH: AssetState.PUBLISHED,
            Action.ARCHIVE: AssetState.ARCHIVED,
        },
        "published": {
            Action.EDIT: AssetState.DRAFT,
            Action.PAUSE: AssetState.PAUSED,
            Action.ROLLBACK: AssetState.PUBLISHED,
            Action.ARCHIVE: AssetState.ARCHIVED,
        },
        "paused": {
            Action.EDIT: AssetState.DRAFT,
            Action.RESUME: AssetState.PUBLISHED,
            Action.ROLLBACK: AssetState.PUBLISHED,
            Action.ARCHIVE: AssetState.ARCHIVED,
        },
        "draft_over_published": {
            Action.EDIT: AssetState.DRAFT,
            Action.SUBMIT: AssetState.SUBMITTED,
            Action.PAUSE: AssetState.DRAFT,
            Action.ROLLBACK: AssetState.DRAFT,
            Action.ARCHIVE: AssetState.ARCHIVED,
        },
        "approved_over_paused": {
            Action.EDIT: AssetState.DRAFT,
            Action.REJECT: AssetState.DRAFT,
            Action.PUBLISH: AssetState.PUBLISHED,
            Action.RESUME: AssetState.APPROVED,
            Action.ROLLBACK: AssetState.APPROVED,
            Action.ARCHIVE: AssetState.ARCHIVED,
        },
        "archived": {},
    }

    def test_every_action_in_every_situation(self, assets: Assets) -> None:
        """Legal actions lead where the table says; every other one is ILLEGAL_TRANSITION."""
        assets.set_four_eyes(False)
        for name in self.SITUATIONS:
            asset_id = self.situation(assets, name)
            for action in Action:
                asset = assets.load(asset_id)
                expected = self.LEGAL[name].get(action)
                if expected is None:
                    with pytest.raises(FailedPrecondition) as refused:
                        self.attempt(
                            assets, asset, action, ROOT if action != Action.APPROVE else CAT
                        )
                    assert refused.value.reason == Refusal.ILLEGAL_TRANSITION, (name, action)
                    assert not asset.pending
                else:
                    self.attempt(assets, asset, action, ROOT if action != Action.APPROVE else CAT)
                    assert asset.state == expected, (name, action)

    def test_each_transition_is_recorded_with_principal_reason_and_time(
        self, assets: Assets
    ) -> None:
        asset_id = random_id("a-")
        assets.edit(asset_id, 1, reason="first cut")
        assets.do(asset_id, Action.SUBMIT, ANN, reason="ready")
        assets.do(asset_id, Action.REJECT, CAT, reason="typo in step 2")
        history = assets.load(asset_id).history
        assert [(t.action, t.version, t.change.actor, t.change.reason) for t in history] == [
            (Action.EDIT, 1, ANN.actor, "first cut"),
            (Action.SUBMIT, 1, ANN.actor, "ready"),
            (Action.REJECT, 1, CAT.actor, "typo in step 2"),
        ]
        times = [t.change.time for t in history]
        assert times == sorted(times) and len(set(times)) == 3

    def test_four_eyes_refuses_any_author_as_approver(self, assets: Assets) -> None:
        asset_id = random_id("a-")
        assets.edit(asset_id, 1, who=ANN)
        assets.edit(asset_id, 2, who=BOB)  # bob co-authors the same draft
        assets.do(asset_id, Action.SUBMIT, ANN)
        for author in (ANN, BOB):
            with pytest.raises(PermissionDenied) as refused:
                assets.do(asset_id, Action.APPROVE, author)
            assert refused.value.reason == Refusal.FOUR_EYES_REQUIRED
        assets.do(asset_id, Action.APPROVE, CAT)
        assert assets.load(asset_id).state == AssetState.APPROVED

    def test_four_eyes_off_lets_an_author_approve(self, assets: Assets) -> None:
        assets.set_four_eyes(False)
        asset_id = random_id("a-")
        assets.edit(asset_id, 1, who=ANN)
        assets.do(asset_id, Action.SUBMIT, ANN)
        assets.do(asset_id, Action.APPROVE, ANN)
        assert assets.load(asset_id).state == AssetState.APPROVED
        last = assets.policy().last_change
        assert last is not None and last.actor == ROOT.actor

    def test_only_an_admin_sets_the_policy(self, assets: Assets) -> None:
        with pytest.raises(PermissionDenied) as refused:
            assets.policy().set(CAT, four_eyes=False, reason="", at=assets.now())
        assert refused.value.reason == Refusal.ROLE_REQUIRED
        assert assets.policy().four_eyes is True

    def test_a_system_principal_never_approves(self, assets: Assets) -> None:
        assets.set_four_eyes(False)
        asset_id = random_id("a-")
        assets.edit(asset_id, 1)
        assets.do(asset_id, Action.SUBMIT, ANN)
        with pytest.raises(PermissionDenied) as refused:
            assets.do(asset_id, Action.APPROVE, BOT)
        assert refused.value.reason == Refusal.SYSTEM_PRINCIPAL_CANNOT_APPROVE
        assert assets.load(asset_id).state == AssetState.SUBMITTED

    @pytest.mark.parametrize(
        ("action", "who"),
        [
            (Action.EDIT, VIC),
            (Action.EDIT, OPS),
            (Action.EDIT, CAT),
            (Action.SUBMIT, CAT),
            (Action.APPROVE, OPS),
            (Action.APPROVE, person("ed", Role.EDITOR)),
            (Action.REJECT, person("ed", Role.EDITOR)),
            (Action.PUBLISH, CAT),
            (Action.PUBLISH, ANN),
            (Action.PAUSE, ANN),
            (Action.RESUME, CAT),
            (Action.ARCHIVE, ANN),
            (Action.ROLLBACK, CAT),
        ],
    )
    def test_a_principal_without_the_role_is_refused(
        self, assets: Assets, action: Action, who: Principal
    ) -> None:
        asset_id = random_id("a-")
        assets.edit(asset_id, 1)
        asset = assets.load(asset_id)
        with pytest.raises(PermissionDenied) as refused:
            self.attempt(assets, asset, action, who)
        assert refused.value.reason == Refusal.ROLE_REQUIRED
        assert action.value in str(refused.value)

    def test_another_tenants_principal_neither_sees_nor_changes_the_asset(
        self, assets: Assets
    ) -> None:
        asset_id = random_id("a-")
        assets.edit(asset_id, 1)
        stranger = person("ann", Role.ADMIN, tenant="globex")
        with pytest.raises(NotFound):  # handlers look in the caller's own tenant
            assets.do(asset_id, Action.ARCHIVE, stranger)
        with pytest.raises(PermissionDenied) as refused:
            assets.load(asset_id).archive(stranger, at=assets.now())
        assert refused.value.reason == Refusal.WRONG_TENANT

    def test_a_published_version_is_immutable_and_hashed(self, assets: Assets) -> None:
        asset_id = random_id("a-")
        assets.publish_new(asset_id, 1)
        with pytest.raises(FailedPrecondition) as refused:
            assets.edit(asset_id, 2, version=1)
        assert refused.value.reason == Refusal.PUBLISHED_VERSION_IMMUTABLE
        assert assets.edit(asset_id, 2) == 2  # without a version: a new draft
        asset = assets.load(asset_id)
        v1 = asset.get_version(1)
        assert v1.state == AssetState.PUBLISHED and v1.content == self.content(1)
        assert v1.content_hash == content_hash(self.content(1))
        assert (asset.state, asset.get_version(2).state) == (AssetState.DRAFT, AssetState.DRAFT)
        record = assets.record(asset_id)
        assert record is not None
        assert (record.state, record.latest_version, record.published_version) == ("draft", 2, 1)
        assert record.content_hash == v1.content_hash

    def test_publishing_a_new_version_archives_the_old(self, assets: Assets) -> None:
        asset_id = random_id("a-")
        assets.publish_new(asset_id, 1)
        assets.publish_new(asset_id, 2)
        asset = assets.load(asset_id)
        assert asset.get_version(1).state == AssetState.ARCHIVED
        assert asset.live_version is asset.get_version(2)

    def test_rollback_publishes_an_earlier_version_as_a_new_one(self, assets: Assets) -> None:
        asset_id = random_id("a-")
        assets.publish_new(asset_id, 1)
        assets.publish_new(asset_id, 2)
        assert assets.do(asset_id, Action.ROLLBACK, OPS, to_version=1).latest == 3
        asset = assets.load(asset_id)
        v1, v2, v3 = (asset.get_version(n) for n in (1, 2, 3))
        assert (v3.state, v3.source_version, v3.content) == (AssetState.PUBLISHED, 1, v1.content)
        assert v3.content_hash == v1.content_hash != v2.content_hash
        assert (v1.state, v2.state) == (AssetState.ARCHIVED, AssetState.ARCHIVED)
        record = assets.record(asset_id)
        assert record is not None and (record.published_version, record.state) == (3, "published")

    def test_rollback_needs_a_version_that_was_published(self, assets: Assets) -> None:
        asset_id = random_id("a-")
        assets.publish_new(asset_id, 1)
        assets.edit(asset_id, 2)
        with pytest.raises(FailedPrecondition) as refused:
            assets.do(asset_id, Action.ROLLBACK, OPS, to_version=2)
        assert refused.value.reason == Refusal.ROLLBACK_SOURCE_NOT_PUBLISHED
        with pytest.raises(NotFound):
            assets.do(asset_id, Action.ROLLBACK, OPS, to_version=7)

    def test_diff_of_two_versions(self, assets: Assets) -> None:
        asset_id = random_id("a-")
        assets.publish_new(asset_id, 1)
        assets.edit(asset_id, 2, meta=AssetMetadata(**{**vars(self.metadata()), "team": "t2"}))
        asset = assets.load(asset_id)
        changes = asset.diff(1, 2)
        assert changes == diff(self.content(1), self.content(2), "content.") + [
            c for c in changes if c.path.startswith("metadata.")
        ]
        assert [c.path for c in changes if c.path.startswith("metadata.")] == ["metadata.team"]
        assert any(c.path.startswith("content.") for c in changes)
        assert asset.diff(2, 2) == []

    def test_submit_needs_the_kinds_required_metadata(self, assets: Assets) -> None:
        if not self.kind.required_metadata:
            pytest.skip(f"{self.kind.name} requires no metadata")
        for name in sorted(self.kind.required_metadata):
            asset_id = random_id("a-")
            blank = AssetMetadata(**{**vars(self.metadata()), name: () if name == "tags" else ""})
            assets.edit(asset_id, 1, meta=blank)
            with pytest.raises(FailedPrecondition) as refused:
                assets.do(asset_id, Action.SUBMIT, ANN)
            assert refused.value.reason == Refusal.REQUIRED_METADATA_MISSING
            assert [v.field for v in refused.value.violations] == [f"metadata.{name}"]
            assert assets.load(asset_id).state == AssetState.DRAFT

    def test_an_asset_never_created_is_not_found(self, assets: Assets) -> None:
        with pytest.raises(NotFound):
            assets.do(random_id("a-"), Action.SUBMIT, ANN)
        assert assets.record(random_id("a-")) is None

    def test_a_stale_writer_gets_a_concurrency_error(self, assets: Assets) -> None:
        asset_id = random_id("a-")
        assets.edit(asset_id, 1)
        first, second = assets.load(asset_id), assets.load(asset_id)
        first.submit(ANN, at=assets.now())
        second.edit(BOB, self.content(2), self.metadata(), at=assets.now())
        assets.save(first)
        with pytest.raises(ConcurrencyError):
            assets.save(second)
        asset = assets.load(asset_id)
        assert asset.state == AssetState.SUBMITTED
        assert asset.get_version(1).authors == {ANN.actor}
        record = assets.record(asset_id)
        assert record is not None and (record.state, record.stream_version) == ("submitted", 3)

    def test_the_list_is_by_id_a_page_at_a_time(self, assets: Assets) -> None:
        mine = random_id("l-")  # no other asset's id sorts between it and its own ids
        ids = [f"{mine}-{n}" for n in "cab"]
        for asset_id in ids:
            assets.edit(asset_id, 1)
        with assets.unit() as repo:
            every = [r.asset_id for r in repo.list(TENANT, self.kind.name)]
            first = [r.asset_id for r in repo.list(TENANT, self.kind.name, mine, 2)]
            rest = [r.asset_id for r in repo.list(TENANT, self.kind.name, first[-1], 2)]
        assert [i for i in every if i.startswith(mine)] == sorted(ids)
        assert first == [f"{mine}-a", f"{mine}-b"]
        assert rest[0] == f"{mine}-c"
