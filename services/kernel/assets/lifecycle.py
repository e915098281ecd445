"""The lifecycle every asset kind shares: states, actions, and the one table of what is legal.

Each action acts on one version of an asset: the *pending* one (draft, submitted or
approved; at most one, never yet published), the *live* one (published or paused; at
most one), or the asset as a whole (archive). `TRANSITIONS[action]` maps the state of
that version (None: there is none) to the state the action leaves it in. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from services.kernel.principals import Scope


class AssetState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    PUBLISHED = "published"
    PAUSED = "paused"
    ARCHIVED = "archived"


PENDING = frozenset({AssetState.DRAFT, AssetState.SUBMITTED, AssetState.APPROVED})
LIVE = frozenset({AssetState.PUBLISHED, AssetState.PAUSED})


class Action(StrEnum):
    EDIT = "edit"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    PUBLISH = "publish"
    PAUSE = "pause"
    RESUME = "resume"
    ARCHIVE = "archive"
    ROLLBACK = "rollback"


# Actions after which another version (or none) is live: caches of live content reload.
LIVE_CHANGES = frozenset(
    {Action.PUBLISH, Action.PAUSE, Action.RESUME, Action.ROLLBACK, Action.ARCHIVE}
)


class Target(StrEnum):
    """Which version an action acts on."""

    PENDING = "pending"
    LIVE = "live"
    ASSET = "asset"


D, S, A = AssetState.DRAFT, AssetState.SUBMITTED, AssetState.APPROVED
P, Z, X = AssetState.PUBLISHED, AssetState.PAUSED, AssetState.ARCHIVED

TARGETS: Mapping[Action, Target] = {
    Action.EDIT: Target.PENDING,
    Action.SUBMIT: Target.PENDING,
    Action.APPROVE: Target.PENDING,
    Action.REJECT: Target.PENDING,
    Action.PUBLISH: Target.PENDING,
    Action.PAUSE: Target.LIVE,
    Action.RESUME: Target.LIVE,
    Action.ROLLBACK: Target.LIVE,
    Action.ARCHIVE: Target.ASSET,
}

# An edit with no pending version starts a new draft version (v1, or the next after the
# live one); an edit of a submitted or approved version returns that same version to draft
# and voids its review. A rollback publishes a copy of an earlier version as a new version.
# On an archived asset nothing is legal: its state is ARCHIVED, which no row accepts.
TRANSITIONS: Mapping[Action, Mapping[AssetState | None, AssetState]] = {
    Action.EDIT: {None: D, D: D, S: D, A: D},
    Action.SUBMIT: {D: S},
    Action.APPROVE: {S: A},
    Action.REJECT: {S: D, A: D},
    Action.PUBLISH: {A: P},
    Action.PAUSE: {P: Z},
    Action.RESUME: {Z: P},
    Action.ROLLBACK: {P: P, Z: P},
    Action.ARCHIVE: {D: X, S: X, A: X, P: X, Z: X},
}

# Who may: the scope each action needs, from the one role table in `principals.py`
# (editor: assets:write; approver: assets:approve; operator: assets:operate; admin: all).
ACTION_SCOPES: Mapping[Action, Scope] = {
    Action.EDIT: Scope.ASSETS_WRITE,
    Action.SUBMIT: Scope.ASSETS_WRITE,
    Action.APPROVE: Scope.ASSETS_APPROVE,
    Action.REJECT: Scope.ASSETS_APPROVE,
    Action.PUBLISH: Scope.ASSETS_OPERATE,
    Action.PAUSE: Scope.ASSETS_OPERATE,
    Action.RESUME: Scope.ASSETS_OPERATE,
    Action.ARCHIVE: Scope.ASSETS_OPERATE,
    Action.ROLLBACK: Scope.ASSETS_OPERATE,
}
