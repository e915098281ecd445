"""A tenant's asset policy (four-eyes), and who may do what to a tenant's assets.

The policy is an aggregate of its own (stream `asset-policy/<tenant>`), set only by an
admin, so every change of the rules is itself a recorded event. Four-eyes is on until a
tenant turns it off: unreviewed change is the failure this lifecycle exists to prevent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.kernel.aggregate import Aggregate
from services.kernel.assets.errors import Refusal, denied
from services.kernel.assets.events import AssetPolicySet, Change, PolicyEvent
from services.kernel.errors import InvalidArgument
from services.kernel.principals import ROLE_SCOPES, Principal, Scope

POLICY_STREAM_PREFIX = "asset-policy/"
MAX_REASON = 1000


def authorize(principal: Principal, tenant_id: str, scope: Scope, what: str) -> None:
    """PERMISSION_DENIED unless `principal` acts in `tenant_id` with a role granting `scope`."""
    if principal.tenant_id != tenant_id:
        raise denied(Refusal.WRONG_TENANT, f"{principal.actor} acts for another tenant")
    if not principal.may(scope):
        roles = sorted(r.value for r, scopes in ROLE_SCOPES.items() if scope in scopes)
        raise denied(
            Refusal.ROLE_REQUIRED,
            f"{what} needs the {' or '.join(roles)} role (scope {scope.value});"
            f" {principal.actor} has {sorted(r.value for r in principal.roles) or 'no roles'}",
        )


def change(principal: Principal, reason: str, at: datetime) -> Change:
    if len(reason) > MAX_REASON:
        raise InvalidArgument.field("reason", f"must be at most {MAX_REASON} characters")
    return Change(principal.actor, reason, at)


@dataclass
class TenantAssetPolicy(Aggregate[PolicyEvent]):
    tenant_id: str = ""
    four_eyes: bool = True
    last_change: Change | None = None

    @property
    def stream_id(self) -> str:
        return policy_stream_id(self.tenant_id)

    def set(self, principal: Principal, *, four_eyes: bool, reason: str, at: datetime) -> None:
        """Only an admin sets the rules; setting them to what they are records nothing."""
        authorize(principal, self.tenant_id, Scope.ADMIN, "setting the asset policy")
        recorded = change(principal, reason, at)
        if four_eyes != self.four_eyes or self.last_change is None:
            self._record(AssetPolicySet(self.tenant_id, four_eyes, recorded))

    def apply(self, event: PolicyEvent) -> None:
        self.tenant_id, self.four_eyes, self.last_change = (
            event.tenant_id,
            event.four_eyes,
            event.change,
        )


def policy_stream_id(tenant_id: str) -> str:
    return f"{POLICY_STREAM_PREFIX}{tenant_id}"
