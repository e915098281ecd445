"""The one table of which scope each public RPC needs, declared by each public servicer.

An RPC of a public service that declared no scope is refused (fail closed), so a method
added to a proto without a line here is never an open door; `needed` is what the door
checks, and the tests read the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from layercake.common.v1 import asset_pb2
from services.kernel.assets import ACTION_SCOPES
from services.kernel.assets.mapping import action_of
from services.kernel.errors import InvalidArgument, PermissionDenied
from services.kernel.principals import Scope

ScopeRule = Scope | Callable[[Any], Scope]

_RULES: dict[str, ScopeRule] = {}


def declare(service: ServiceDescriptor, rules: Mapping[str, ScopeRule]) -> None:
    """Names the scope each RPC of `service` needs (a scope, or a function of the request);
    every RPC of the service must be named, and only those."""
    methods = {m.name for m in service.methods}
    if methods != set(rules):
        raise ValueError(
            f"{service.full_name}: scopes declared for {sorted(rules)}, RPCs are {sorted(methods)}"
        )
    for name, rule in rules.items():
        _RULES[f"/{service.full_name}/{name}"] = rule


def needed(method: str, request: Any = None) -> Scope:
    """The scope `method` (`/package.Service/Method`) needs for `request`."""
    rule = _RULES.get(method)
    if rule is None:
        raise PermissionDenied(f"{method} declares no scope: no API key may call it")
    return rule if isinstance(rule, Scope) else rule(request)


def declared() -> dict[str, ScopeRule]:
    """Every public RPC and its rule (for tests and docs)."""
    return dict(_RULES)


def transition_scope(request: Any) -> Scope:
    """A lifecycle action needs its own scope (submit: write; approve: approve; publish,
    pause...: operate); an unknown action is judged as the weakest, then refused as invalid."""
    action: asset_pb2.AssetAction.ValueType = request.action
    try:
        return ACTION_SCOPES[action_of(action)]
    except InvalidArgument:
        return Scope.ASSETS_WRITE
