"""Who acts: principals (people and systems), their roles, and what each role may do.

Every recorded event names its acting principal as an `Actor`; every call that
reaches a service carries a `Principal` (tenant, actor, roles). Roles map to
API scopes in `ROLE_SCOPES`, the one table of who may do what: a key's scopes
never exceed its principal's roles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class PrincipalKind(StrEnum):
    """A person signs in and can approve; a system (a partner's backend, a
    service) acts on its own and can never approve."""

    PERSON = "person"
    SYSTEM = "system"


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    OPERATOR = "operator"
    ADMIN = "admin"


class Scope(StrEnum):
    """What an API key may ask for; each RPC names the one scope it needs."""

    INGEST = "ingest"
    PROFILES_READ = "profiles:read"
    PROFILES_WRITE = "profiles:write"  # consent, forget, unmerge
    DECISIONS = "decisions"
    ASSETS_READ = "assets:read"
    ASSETS_WRITE = "assets:write"  # edit and submit a draft
    ASSETS_APPROVE = "assets:approve"
    ASSETS_OPERATE = "assets:operate"  # publish, pause, archive, rollback
    FACTS_WRITE = "facts:write"
    MODELS_INFER = "models:infer"  # the Open Inference Protocol: metadata and inference
    ADMIN = "admin"  # principals, roles, keys, tenant policies


_READ = frozenset({Scope.PROFILES_READ, Scope.ASSETS_READ})

ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.VIEWER: _READ,
    Role.EDITOR: _READ
    | {
        Scope.INGEST,
        Scope.PROFILES_WRITE,
        Scope.DECISIONS,
        Scope.MODELS_INFER,
        Scope.ASSETS_WRITE,
        Scope.FACTS_WRITE,
    },
    Role.APPROVER: _READ | {Scope.ASSETS_APPROVE},
    Role.OPERATOR: _READ
    | {Scope.INGEST, Scope.DECISIONS, Scope.MODELS_INFER, Scope.ASSETS_OPERATE, Scope.FACTS_WRITE},
    Role.ADMIN: frozenset(Scope),
}

ACTOR_ID = re.compile(r"^[a-z0-9][a-z0-9._:@-]{0,127}$")


@dataclass(frozen=True)
class Actor:
    """The acting principal as recorded on every event: an id and its kind, never a free string."""

    id: str
    kind: PrincipalKind

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def system(cls, name: str) -> Actor:
        """A service or process acting on its own (the ingest pipeline, a timer, `make run`)."""
        return cls(name, PrincipalKind.SYSTEM)

    @classmethod
    def parse(cls, text: str) -> Actor:
        """`person:ann` or `system:identity`; ValueError for anything else."""
        kind, sep, actor_id = text.partition(":")
        if not sep or kind not in {k.value for k in PrincipalKind} or not actor_id:
            raise ValueError(f"actor {text[:80]!r} is not '<person|system>:<id>'")
        return cls(actor_id, PrincipalKind(kind))


@dataclass(frozen=True)
class Principal:
    """Who is calling, in which tenant, holding which roles."""

    tenant_id: str
    actor: Actor
    roles: frozenset[Role] = field(default_factory=frozenset)

    @property
    def scopes(self) -> frozenset[Scope]:
        return scopes_of(self.roles)

    def has_role(self, role: Role) -> bool:
        """`admin` holds every role."""
        return role in self.roles or Role.ADMIN in self.roles

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes


def scopes_of(roles: Iterable[Role]) -> frozenset[Scope]:
    """Every scope the roles grant together."""
    granted: set[Scope] = set()
    for role in roles:
        granted |= ROLE_SCOPES[role]
    return frozenset(granted)
