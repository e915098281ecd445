"""What operators and partners ask of the gateway, in the imperative."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CreateTenant:
    tenant_id: str
    display_name: str = ""


@dataclass(frozen=True)
class IssueApiKey:
    tenant_id: str
    scopes: tuple[str, ...]
    display_name: str = ""


@dataclass(frozen=True)
class RevokeApiKey:
    tenant_id: str
    key_id: str
    reason: str = ""


@dataclass(frozen=True)
class EnsureTenant:
    """Create the tenant if missing; keep `current_key` if it still works, else issue one."""

    tenant_id: str
    scopes: tuple[str, ...]
    current_key: str = ""
    display_name: str = ""
