"""What operators and partners ask of the gateway, in the imperative."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CreateTenant:
    tenant_id: str
    display_name: str = ""


@dataclass(frozen=True)
class CreatePrincipal:
    tenant_id: str
    principal_id: str
    kind: str
    display_name: str = ""
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class GrantRole:
    tenant_id: str
    principal_id: str
    role: str


@dataclass(frozen=True)
class RevokeRole:
    tenant_id: str
    principal_id: str
    role: str


@dataclass(frozen=True)
class IssueApiKey:
    """Empty `scopes`: every scope the principal's roles grant now."""

    tenant_id: str
    principal_id: str
    scopes: tuple[str, ...] = ()
    display_name: str = ""


@dataclass(frozen=True)
class RevokeApiKey:
    tenant_id: str
    key_id: str
    reason: str = ""


@dataclass(frozen=True)
class EnsureTenant:
    """Create the tenant and its admin person principal if missing; keep `current_key` if it
    still works with `scopes` (empty: every scope), else issue one for that principal."""

    tenant_id: str
    principal_id: str = "admin"
    scopes: tuple[str, ...] = ()
    current_key: str = ""
    display_name: str = ""
