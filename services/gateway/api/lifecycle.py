"""The asset lifecycle at the gateway, shared by every public service with controlled assets
(journeys, templates, audiences, catalog assets): one RPC per action, named `<Action><Noun>`
(`SubmitAudience`), each with the one scope the kernel's `ACTION_SCOPES` gives its action.
"""

from __future__ import annotations

from typing import Any

from services.kernel.assets.lifecycle import ACTION_SCOPES, Action
from services.kernel.errors import InvalidArgument, Violations
from services.kernel.principals import Scope

ACTIONS = [a for a in Action if a is not Action.EDIT]  # each an RPC of its own, per noun
INT32_MAX = 2**31 - 1


def scope_rules(noun: str) -> dict[str, Scope]:
    """`Submit<noun>`: `assets:write`, `Approve<noun>`: `assets:approve`, ... for `declare`."""
    return {f"{a.value.capitalize()}{noun}": ACTION_SCOPES[a] for a in ACTIONS}


def checked_move(request: Any, action: Action, *id_fields: str) -> int:
    """INVALID_ARGUMENT naming each empty id field and, for a rollback, a missing
    `to_version`; answers the version a rollback copies (0 for the other actions)."""
    bad = Violations()
    for name in id_fields:
        value: str = getattr(request, name)
        bad.require(value.strip(), name)
    to_version: int = request.to_version if action is Action.ROLLBACK else 0
    if action is Action.ROLLBACK and to_version <= 0:
        bad.add("to_version", "must name the earlier published version to publish again")
    bad.raise_if_any()
    return version_number(to_version, "to_version")


def version_number(number: int, field: str) -> int:
    """A public version number (int64) as the services' int32; INVALID_ARGUMENT naming the
    field when it cannot be one."""
    if not 0 <= number <= INT32_MAX:
        raise InvalidArgument.field(field, "is not a version number")
    return number
