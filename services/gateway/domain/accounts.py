"""The Account aggregate: a principal of a tenant, with its roles and its API keys.

One stream per principal (`principal-<tenant>/<id>`) keeps streams short and puts
the rule "a key's scopes never exceed its principal's roles" inside one aggregate.
Revoking a role does not touch the keys: a key may only use what its scopes and
its principal's current roles both allow (`keys.Caller.scopes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.gateway.domain.errors import (
    ApiKeyAlreadyIssued,
    ApiKeyAlreadyRevoked,
    ApiKeyNotFound,
    PrincipalAlreadyExists,
    PrincipalHasNoRole,
    PrincipalNotFound,
    RoleAlreadyGranted,
    RoleNotGranted,
)
from services.gateway.domain.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    PrincipalCreated,
    PrincipalEvent,
    RoleGranted,
    RoleRevoked,
)
from services.gateway.domain.keys import KeyRecord, check_scopes
from services.kernel.aggregate import Aggregate
from services.kernel.errors import InvalidArgument, Violations
from services.kernel.principals import ACTOR_ID, Actor, Principal, PrincipalKind, Role, Scope

STREAM_PREFIX = "principal-"
MAX_NAME = 200
MAX_REASON = 500
ROLE_NAMES = ", ".join(r.value for r in Role)


@dataclass
class ApiKey:
    key_id: str
    secret_sha256: str
    scopes: frozenset[Scope]
    display_name: str
    issue_time: datetime
    revoke_time: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoke_time is not None


@dataclass(frozen=True)
class PrincipalView:
    principal: Principal
    display_name: str
    create_time: datetime

    @property
    def principal_id(self) -> str:
        return self.principal.actor.id


@dataclass(frozen=True)
class KeyView:
    """A key as admins see it: never its secret or hash."""

    key_id: str
    principal: Principal
    scopes: frozenset[Scope]
    display_name: str
    issue_time: datetime
    revoke_time: datetime | None

    @property
    def effective_scopes(self) -> frozenset[Scope]:
        """What it may do now: nothing once revoked, else its scopes the roles still grant."""
        return frozenset() if self.revoke_time else self.scopes & self.principal.scopes


@dataclass
class Account(Aggregate[PrincipalEvent]):
    tenant_id: str = ""
    principal_id: str = ""
    kind: PrincipalKind = PrincipalKind.PERSON
    display_name: str = ""
    create_time: datetime | None = None
    roles: set[Role] = field(default_factory=set)
    keys: dict[str, ApiKey] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.create_time is not None

    @property
    def stream_id(self) -> str:
        return stream_id(self.tenant_id, self.principal_id)

    @property
    def principal(self) -> Principal:
        """Who this account acts as, with the roles it holds now."""
        return Principal(self.tenant_id, Actor(self.principal_id, self.kind), frozenset(self.roles))

    def create(self, kind: str, display_name: str, roles: Sequence[str], at: datetime) -> None:
        """An id is used once per tenant; the first roles are grants like any later one."""
        if self.exists:
            raise PrincipalAlreadyExists(
                f"tenant {self.tenant_id!r} already has principal {self.principal_id!r}"
            )
        bad = Violations()
        principal_id = self.principal_id
        if not is_principal_id(principal_id):
            bad.add(
                "principal_id",
                "must be 1-128 lower-case letters, digits or ._:@-, a letter or digit first",
            )
        if kind not in {k.value for k in PrincipalKind}:
            bad.add("kind", f"must be person or system, got {kind[:40]!r}")
        if len(display_name) > MAX_NAME:
            bad.add("display_name", f"must be at most {MAX_NAME} characters")
        granted = _roles(bad, roles)
        bad.raise_if_any()
        self._record(
            PrincipalCreated(principal_id, PrincipalKind(kind), display_name or principal_id, at)
        )
        for role in sorted(granted):
            self._record(RoleGranted(principal_id, role, at))

    def grant_role(self, role: str, at: datetime) -> None:
        wanted = _role(role)
        self._require_exists()
        if wanted in self.roles:
            raise RoleAlreadyGranted(f"{self.principal.actor} already holds role {wanted.value!r}")
        self._record(RoleGranted(self.principal_id, wanted, at))

    def revoke_role(self, role: str, at: datetime) -> None:
        wanted = _role(role)
        self._require_exists()
        if wanted not in self.roles:
            raise RoleNotGranted(f"{self.principal.actor} does not hold role {wanted.value!r}")
        self._record(RoleRevoked(self.principal_id, wanted, at))

    def issue_key(
        self,
        key_id: str,
        secret_sha256: str,
        scopes: Sequence[str],
        display_name: str,
        at: datetime,
    ) -> ApiKey:
        """A key with `scopes` (empty: all the roles grant now), never beyond the roles."""
        self._require_exists()
        if len(display_name) > MAX_NAME:
            raise InvalidArgument.field("display_name", f"must be at most {MAX_NAME} characters")
        held = self.principal.scopes
        if not held:
            raise PrincipalHasNoRole(f"{self.principal.actor} holds no role; grant one first")
        wanted = check_scopes(scopes) or held
        beyond = sorted(wanted - held)
        if beyond:
            roles = ", ".join(sorted(self.roles))
            raise InvalidArgument.field(
                "scopes",
                f"scope {beyond[0].value!r} is not granted by the roles of "
                f"{self.principal.actor} ({roles})",
            )
        if key_id in self.keys:
            raise ApiKeyAlreadyIssued(f"key {key_id} already issued")
        self._record(
            ApiKeyIssued(self.principal_id, key_id, secret_sha256, wanted, display_name, at)
        )
        return self.keys[key_id]

    def revoke_key(self, key_id: str, reason: str, at: datetime) -> ApiKey:
        self._require_exists()
        if len(reason) > MAX_REASON:
            raise InvalidArgument.field("reason", f"must be at most {MAX_REASON} characters")
        key = self.keys.get(key_id)
        if key is None:
            raise ApiKeyNotFound(f"tenant {self.tenant_id!r} has no key {key_id[:40]!r}")
        if key.revoked:
            raise ApiKeyAlreadyRevoked(f"key {key_id} is already revoked")
        self._record(ApiKeyRevoked(self.principal_id, key_id, reason, at))
        return key

    def view(self) -> PrincipalView:
        """The principal as admins see it (the account must exist)."""
        assert self.create_time is not None, "a principal that was never created"
        return PrincipalView(self.principal, self.display_name, self.create_time)

    def key_view(self, key: ApiKey) -> KeyView:
        return KeyView(
            key.key_id,
            self.principal,
            key.scopes,
            key.display_name,
            key.issue_time,
            key.revoke_time,
        )

    def key_record(self, key_id: str) -> KeyRecord | None:
        key = self.keys.get(key_id)
        if key is None:
            return None
        return KeyRecord(key_id, key.secret_sha256, key.scopes, self.principal, key.revoked)

    def _require_exists(self) -> None:
        if not self.exists:
            raise PrincipalNotFound(
                f"tenant {self.tenant_id!r} has no principal {self.principal_id[:128]!r}"
            )

    def apply(self, event: PrincipalEvent) -> None:
        match event:
            case PrincipalCreated(principal_id, kind, display_name, create_time):
                self.principal_id, self.kind = principal_id, kind
                self.display_name, self.create_time = display_name, create_time
            case RoleGranted(_, role, _):
                self.roles.add(role)
            case RoleRevoked(_, role, _):
                self.roles.discard(role)
            case ApiKeyIssued(_, key_id, secret_sha256, scopes, display_name, issue_time):
                self.keys[key_id] = ApiKey(key_id, secret_sha256, scopes, display_name, issue_time)
            case ApiKeyRevoked(_, key_id, _, revoke_time):
                self.keys[key_id].revoke_time = revoke_time


def is_principal_id(value: str) -> bool:
    return bool(ACTOR_ID.match(value))


def stream_id(tenant_id: str, principal_id: str) -> str:
    """`/` separates: a tenant id never holds one, a principal id neither."""
    return f"{STREAM_PREFIX}{tenant_id}/{principal_id}"


def _role(value: str, field: str = "role") -> Role:
    if value not in {r.value for r in Role}:
        raise InvalidArgument.field(
            field, f"unknown role {value[:40]!r}; expected one of {ROLE_NAMES}"
        )
    return Role(value)


def _roles(bad: Violations, values: Sequence[str]) -> set[Role]:
    roles: set[Role] = set()
    for value in values:
        if value in {r.value for r in Role}:
            roles.add(Role(value))
        else:
            bad.add("roles", f"unknown role {value[:40]!r}; expected one of {ROLE_NAMES}")
    return roles
