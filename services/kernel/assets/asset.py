"""The Asset aggregate: one controlled asset of any kind, as a stream of lifecycle events.

It checks who acts (tenant, role, system principal, four-eyes) and whether the
lifecycle table allows the action, then records an event; state changes only by
applying events. Published versions never change: an edit starts a new version.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

from google.protobuf.message import Message

from services.kernel.aggregate import Aggregate
from services.kernel.assets.content import ChangeKind, FieldChange, content_hash, diff
from services.kernel.assets.errors import Refusal, denied, refused
from services.kernel.assets.events import (
    AssetApproved,
    AssetArchived,
    AssetCreated,
    AssetDraftSaved,
    AssetEvent,
    AssetPaused,
    AssetPublished,
    AssetRejected,
    AssetResumed,
    AssetRolledBack,
    AssetSubmitted,
    Change,
)
from services.kernel.assets.kinds import ASSET_ID, AssetKind, AssetMetadata
from services.kernel.assets.lifecycle import (
    ACTION_SCOPES,
    LIVE,
    PENDING,
    TARGETS,
    TRANSITIONS,
    Action,
    AssetState,
    Target,
)
from services.kernel.assets.policy import TenantAssetPolicy, authorize, change
from services.kernel.errors import FieldViolation, InvalidArgument, NotFound, Violations
from services.kernel.principals import Actor, Principal, PrincipalKind

STREAM_PREFIX = "asset/"


@dataclass
class Version:
    """One version: its content and metadata, its state, and everyone who saved it."""

    number: int
    content: Message
    metadata: AssetMetadata
    state: AssetState
    authors: frozenset[Actor]
    create_time: datetime
    update_time: datetime
    content_hash: str
    source_version: int = 0
    published: bool = False  # was live once: immutable, and a rollback source


@dataclass(frozen=True)
class Transition:
    """One line of the asset's audit trail."""

    action: Action
    version: int
    change: Change


@dataclass
class Asset(Aggregate[AssetEvent]):
    tenant_id: str = ""
    kind: AssetKind | None = None
    asset_id: str = ""
    versions: dict[int, Version] = field(default_factory=dict)
    archived: bool = False
    history: list[Transition] = field(default_factory=list)

    @classmethod
    def blank(cls, tenant_id: str, kind: AssetKind, asset_id: str) -> Asset:
        """An asset not yet created; its first edit creates it. Bad ids: INVALID_ARGUMENT."""
        bad = Violations()
        bad.require_tenant(tenant_id)
        if not ASSET_ID.match(asset_id):
            bad.add("asset_id", "must be 1-100 lower-case letters, digits or ._- (not first)")
        bad.raise_if_any()
        return cls(tenant_id=tenant_id, kind=kind, asset_id=asset_id)

    @property
    def exists(self) -> bool:
        return bool(self.versions)

    @property
    def stream_id(self) -> str:
        return asset_stream_id(self.tenant_id, self._kind.name, self.asset_id)

    @property
    def pending_version(self) -> Version | None:
        """The version under change (draft, submitted or approved), if any."""
        return next((v for v in self.versions.values() if v.state in PENDING), None)

    @property
    def live_version(self) -> Version | None:
        """The published or paused version, if any."""
        return next((v for v in self.versions.values() if v.state in LIVE), None)

    @property
    def latest(self) -> int:
        return max(self.versions, default=0)

    @property
    def state(self) -> AssetState | None:
        """Archived; else the pending version's state; else the live one's; None before creation."""
        if self.archived:
            return AssetState.ARCHIVED
        current = self.pending_version or self.live_version
        return current.state if current else None

    def get_version(self, number: int) -> Version:
        if number not in self.versions:
            raise NotFound(
                f"{self._name} has no version {number}", reason=Refusal.VERSION_NOT_FOUND.value
            )
        return self.versions[number]

    # -- commands ---------------------------------------------------------------------------

    def edit(
        self,
        principal: Principal,
        content: Message,
        metadata: AssetMetadata,
        *,
        reason: str = "",
        at: datetime,
        version: int | None = None,
    ) -> int:
        """Saves the pending version (returning a submitted or approved one to draft), or
        starts a new draft version when none is pending; `version`, when given, must be it."""
        target = self._check(principal, Action.EDIT)
        if version is not None and (target is None or target.number != version):
            named = self.get_version(version)
            raise refused(
                Refusal.PUBLISHED_VERSION_IMMUTABLE
                if named.published
                else Refusal.ILLEGAL_TRANSITION,
                f"{self._name} version {version} is {named.state.value} and never changes;"
                " an edit without a version starts a new draft",
            )
        kind = self._kind
        bad = Violations()
        if not isinstance(content, kind.content_type):
            bad.add("content", f"must be a {kind.content_type.DESCRIPTOR.full_name}")
        else:
            bad.items += metadata.violations() + self._kind_violations(content)
        bad.raise_if_any()
        recorded = change(principal, reason, at)
        if not self.exists:
            self._record(AssetCreated(self.tenant_id, kind, self.asset_id, recorded))
        number = target.number if target else self.latest + 1
        saved = type(content)()
        saved.CopyFrom(content)
        self._record(AssetDraftSaved(number, saved, metadata, recorded))
        return number

    def submit(self, principal: Principal, *, reason: str = "", at: datetime) -> None:
        """Hands the draft in for review once the kind's required metadata is all there."""
        target = self._target(principal, Action.SUBMIT)
        if missing := self._kind.missing_metadata(target.metadata):
            raise refused(
                Refusal.REQUIRED_METADATA_MISSING,
                f"{self._name} version {target.number} lacks "
                + ", ".join(v.field for v in missing),
                tuple(missing),
            )
        self._record(AssetSubmitted(target.number, change(principal, reason, at)))

    def approve(
        self, principal: Principal, policy: TenantAssetPolicy, *, reason: str = "", at: datetime
    ) -> None:
        """A person with the approver role approves; with four-eyes, none of the authors."""
        if principal.actor.kind == PrincipalKind.SYSTEM:
            raise denied(
                Refusal.SYSTEM_PRINCIPAL_CANNOT_APPROVE,
                f"{principal.actor} is a system principal; only a person can approve",
            )
        target = self._target(principal, Action.APPROVE)
        if policy.four_eyes and principal.actor in target.authors:
            raise denied(
                Refusal.FOUR_EYES_REQUIRED,
                f"{principal.actor} edited {self._name} version {target.number};"
                " tenant policy requires another approver",
            )
        self._record(AssetApproved(target.number, change(principal, reason, at)))

    def reject(self, principal: Principal, *, reason: str = "", at: datetime) -> None:
        target = self._target(principal, Action.REJECT)
        self._record(AssetRejected(target.number, change(principal, reason, at)))

    def publish(self, principal: Principal, *, reason: str = "", at: datetime) -> None:
        """The approved version goes live with its content hash; the live one is archived."""
        target = self._target(principal, Action.PUBLISH)
        recorded = change(principal, reason, at)
        self._record(AssetPublished(target.number, content_hash(target.content), recorded))

    def pause(self, principal: Principal, *, reason: str = "", at: datetime) -> None:
        target = self._target(principal, Action.PAUSE)
        self._record(AssetPaused(target.number, change(principal, reason, at)))

    def resume(self, principal: Principal, *, reason: str = "", at: datetime) -> None:
        target = self._target(principal, Action.RESUME)
        self._record(AssetResumed(target.number, change(principal, reason, at)))

    def archive(self, principal: Principal, *, reason: str = "", at: datetime) -> None:
        """Retires the asset: every version is archived and no action is legal after."""
        self._check(principal, Action.ARCHIVE)
        self._record(AssetArchived(change(principal, reason, at)))

    def rollback(
        self, principal: Principal, to_version: int, *, reason: str = "", at: datetime
    ) -> int:
        """Publishes a copy of an earlier published version as a new version; returns it."""
        live = self._target(principal, Action.ROLLBACK)
        source = self.get_version(to_version)
        if not source.published:
            raise refused(
                Refusal.ROLLBACK_SOURCE_NOT_PUBLISHED,
                f"{self._name} version {to_version} was never published",
            )
        if source is live:
            raise refused(
                Refusal.ILLEGAL_TRANSITION, f"{self._name} version {to_version} is already live"
            )
        number = self.latest + 1
        recorded = change(principal, reason, at)
        self._record(AssetRolledBack(number, to_version, source.content_hash, recorded))
        return number

    def diff(self, old: int, new: int) -> list[FieldChange]:
        """Field by field from version `old` to version `new`: `content.` then `metadata.`."""
        a, b = self.get_version(old), self.get_version(new)
        return diff(a.content, b.content, "content.") + _metadata_diff(a.metadata, b.metadata)

    # -- rules ------------------------------------------------------------------------------

    @property
    def _kind(self) -> AssetKind:
        assert self.kind is not None, "an asset is made by Asset.blank or replay"
        return self.kind

    @property
    def _name(self) -> str:
        return f"{self._kind.name} {self.asset_id!r}"

    def _kind_violations(self, content: Message) -> list[FieldViolation]:
        """The kind's own rules (e.g. its CEL expressions compile), run when a draft is saved."""
        try:
            return list(self._kind.validate(f"{self._kind.name} {self.asset_id}", content))
        except InvalidArgument as e:
            return list(e.violations)

    def _target(self, principal: Principal, action: Action) -> Version:
        target = self._check(principal, action)
        assert target is not None, "the table admits 'no version' for an edit only"
        return target

    def _check(self, principal: Principal, action: Action) -> Version | None:
        """Who may, then whether the lifecycle table allows it; returns the version acted on."""
        authorize(principal, self.tenant_id, ACTION_SCOPES[action], f"{action.value}")
        target: Version | None
        match TARGETS[action]:
            case Target.PENDING:
                target = self.pending_version
            case Target.LIVE:
                target = self.live_version
            case Target.ASSET:
                target = self.pending_version or self.live_version
        state = AssetState.ARCHIVED if self.archived else (target.state if target else None)
        if state not in TRANSITIONS[action]:
            where = f"{state.value}" if state else "no such version"
            raise refused(
                Refusal.ILLEGAL_TRANSITION,
                f"cannot {action.value} {self._name}: its {TARGETS[action].value} version is"
                f" {where} (state {self.state.value if self.state else 'new'})",
            )
        return target

    # -- state ------------------------------------------------------------------------------

    def apply(self, event: AssetEvent) -> None:
        match event:
            case AssetCreated(tenant_id, kind, asset_id, _):
                self.tenant_id, self.kind, self.asset_id = tenant_id, kind, asset_id
                return
            case AssetDraftSaved(number, content, metadata, recorded):
                self._save(number, content, metadata, recorded)
                action = Action.EDIT
            case AssetSubmitted(number, recorded):
                self._move(number, AssetState.SUBMITTED, recorded)
                action = Action.SUBMIT
            case AssetApproved(number, recorded):
                self._move(number, AssetState.APPROVED, recorded)
                action = Action.APPROVE
            case AssetRejected(number, recorded):
                self._move(number, AssetState.DRAFT, recorded)
                action = Action.REJECT
            case AssetPublished(number, digest, recorded):
                self._retire_live(recorded)
                published = self._move(number, AssetState.PUBLISHED, recorded)
                published.published, published.content_hash = True, digest
                action = Action.PUBLISH
            case AssetPaused(number, recorded):
                self._move(number, AssetState.PAUSED, recorded)
                action = Action.PAUSE
            case AssetResumed(number, recorded):
                self._move(number, AssetState.PUBLISHED, recorded)
                action = Action.RESUME
            case AssetArchived(recorded):
                number = 0
                for v in self.versions.values():
                    if v.state in PENDING | LIVE:
                        self._move(v.number, AssetState.ARCHIVED, recorded)
                self.archived = True
                action = Action.ARCHIVE
            case AssetRolledBack(number, source_number, digest, recorded):
                source = self.versions[source_number]
                self._retire_live(recorded)
                self.versions[number] = Version(
                    number,
                    source.content,
                    source.metadata,
                    AssetState.PUBLISHED,
                    source.authors,
                    recorded.time,
                    recorded.time,
                    digest,
                    source_version=source_number,
                    published=True,
                )
                action = Action.ROLLBACK
        self.history.append(Transition(action, number, recorded))

    def _save(
        self, number: int, content: Message, metadata: AssetMetadata, recorded: Change
    ) -> None:
        digest = content_hash(content)
        known = self.versions.get(number)
        if known is None:
            self.versions[number] = Version(
                number,
                content,
                metadata,
                AssetState.DRAFT,
                frozenset({recorded.actor}),
                recorded.time,
                recorded.time,
                digest,
            )
            return
        known.content, known.metadata, known.content_hash = content, metadata, digest
        known.authors |= {recorded.actor}
        known.state, known.update_time = AssetState.DRAFT, recorded.time

    def _move(self, number: int, state: AssetState, recorded: Change) -> Version:
        version = self.versions[number]
        version.state, version.update_time = state, recorded.time
        return version

    def _retire_live(self, recorded: Change) -> None:
        if live := self.live_version:
            self._move(live.number, AssetState.ARCHIVED, recorded)


def _metadata_diff(old: AssetMetadata, new: AssetMetadata) -> list[FieldChange]:
    changes = []
    for f in fields(AssetMetadata):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a != b:
            plain = (list(a), list(b)) if isinstance(a, tuple) else (a, b)
            changes.append(FieldChange(f"metadata.{f.name}", ChangeKind.CHANGED, *plain))
    return changes


def asset_stream_id(tenant_id: str, kind: str, asset_id: str) -> str:
    """`asset/<tenant>/<kind>/<id>`: none of the three may hold a `/`, so it is unambiguous."""
    return f"{STREAM_PREFIX}{tenant_id}/{kind}/{asset_id}"


def is_asset_stream(stream_id: str) -> bool:
    return stream_id.startswith(STREAM_PREFIX)


def kind_of_stream(stream_id: str) -> str:
    """The kind named in an asset stream id."""
    return stream_id.split("/")[2]
