"""The one table of which scope each public RPC needs, declared by each public servicer.

An RPC of a public service that declared no scope is refused (fail closed), so a method
added to a proto without a line here is never an open door; `needed` is what the door
checks, and the tests read the same table.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.descriptor import ServiceDescriptor

from services.kernel.errors import PermissionDenied
from services.kernel.principals import Scope

_RULES: dict[str, Scope] = {}


def declare(service: ServiceDescriptor, rules: Mapping[str, Scope]) -> None:
    """Names the one scope each RPC of `service` needs (fixed per RPC: a lifecycle action is
    an RPC of its own); every RPC of the service must be named, and only those."""
    methods = {m.name for m in service.methods}
    if methods != set(rules):
        raise ValueError(
            f"{service.full_name}: scopes declared for {sorted(rules)}, RPCs are {sorted(methods)}"
        )
    for name, rule in rules.items():
        _RULES[f"/{service.full_name}/{name}"] = rule


def needed(method: str) -> Scope:
    """The scope `method` (`/package.Service/Method`) needs."""
    rule = _RULES.get(method)
    if rule is None:
        raise PermissionDenied(f"{method} declares no scope: no API key may call it")
    return rule


def declared() -> dict[str, Scope]:
    """Every public RPC and its scope (for tests and docs)."""
    return dict(_RULES)
