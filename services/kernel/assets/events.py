"""What happens to an asset and to a tenant's asset policy, in the past tense.

Every event carries a `Change`: the acting principal, the reason and the time. Field
names match the protobuf messages of `layercake/common/v1/asset.proto` one to one, so
`mapping.py` converts them without a function per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message

from services.kernel.assets.kinds import AssetKind, AssetMetadata
from services.kernel.principals import Actor


@dataclass(frozen=True)
class Change:
    actor: Actor
    reason: str
    time: datetime


@dataclass(frozen=True)
class AssetCreated:
    tenant_id: str
    kind: AssetKind
    asset_id: str
    change: Change


@dataclass(frozen=True)
class AssetDraftSaved:
    version: int
    content: Message
    metadata: AssetMetadata
    change: Change


@dataclass(frozen=True)
class AssetSubmitted:
    version: int
    change: Change


@dataclass(frozen=True)
class AssetApproved:
    version: int
    change: Change


@dataclass(frozen=True)
class AssetRejected:
    version: int
    change: Change


@dataclass(frozen=True)
class AssetPublished:
    version: int
    content_hash: str
    change: Change


@dataclass(frozen=True)
class AssetPaused:
    version: int
    change: Change


@dataclass(frozen=True)
class AssetResumed:
    version: int
    change: Change


@dataclass(frozen=True)
class AssetArchived:
    change: Change


@dataclass(frozen=True)
class AssetRolledBack:
    version: int
    source_version: int
    content_hash: str
    change: Change


@dataclass(frozen=True)
class AssetPolicySet:
    tenant_id: str
    four_eyes: bool
    change: Change


AssetEvent = (
    AssetCreated
    | AssetDraftSaved
    | AssetSubmitted
    | AssetApproved
    | AssetRejected
    | AssetPublished
    | AssetPaused
    | AssetResumed
    | AssetArchived
    | AssetRolledBack
)
PolicyEvent = AssetPolicySet
