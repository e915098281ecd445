"""One controlled-asset lifecycle for every asset kind (journeys, templates, offers, ...).

Pure domain: `lifecycle` (states, actions, the transition and role tables), `asset`
(the aggregate), `policy` (tenant four-eyes), `kinds`, `content` (hash and diff),
`events`. Service layer: `handlers` (edit, transition, policy, diff). Adapters:
`mapping` (protobuf, event types), `repository` (port and event-store adapter), `memory`
(fake), `projection` and `tables` (the `assets` read model).
"""

from services.kernel.assets.asset import Asset, Transition, Version
from services.kernel.assets.content import ChangeKind, FieldChange, content_hash, diff
from services.kernel.assets.errors import Refusal
from services.kernel.assets.kinds import KINDS, AssetKind, AssetKindRegistry, AssetMetadata
from services.kernel.assets.lifecycle import (
    ACTION_SCOPES,
    LIVE_CHANGES,
    TRANSITIONS,
    Action,
    AssetState,
)
from services.kernel.assets.policy import TenantAssetPolicy

__all__ = [
    "ACTION_SCOPES",
    "KINDS",
    "LIVE_CHANGES",
    "TRANSITIONS",
    "Action",
    "Asset",
    "AssetKind",
    "AssetKindRegistry",
    "AssetMetadata",
    "AssetState",
    "ChangeKind",
    "FieldChange",
    "Refusal",
    "TenantAssetPolicy",
    "Transition",
    "Version",
    "content_hash",
    "diff",
]
