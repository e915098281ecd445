"""Signed internal calls: what the gateway stamps, an internal service verifies, nothing else."""

from __future__ import annotations

import pytest

from services.kernel.errors import Unauthenticated
from services.kernel.principals import Actor, Principal, Role
from services.kernel.rpc.signing import ACTOR, ISSUED, ROLES, TENANT, VALIDITY, InternalCalls

SECRET = b"s" * 32
METHOD = "/layercake.identity.v1.IdentityService/GetProfile"
ANN = Principal("acme", Actor.system("api_key:k1"), frozenset({Role.VIEWER, Role.EDITOR}))


def at(now: float, secret: bytes = SECRET) -> InternalCalls:
    return InternalCalls(secret, clock=lambda: now)


def stamped(
    signer: InternalCalls, principal: Principal = ANN, method: str = METHOD
) -> dict[str, str]:
    return dict(signer.stamp(principal, METHOD))


def test_a_stamp_verifies_to_the_same_principal() -> None:
    assert at(1000).verify(stamped(at(1000)), METHOD) == ANN


def test_no_stamp_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated, match="without the gateway's signature"):
        at(1000).verify({}, METHOD)


@pytest.mark.parametrize(
    ("header", "value"),
    [(TENANT, "globex"), (ACTOR, "person:mallory"), (ROLES, "admin"), (ISSUED, "1001")],
)
def test_changing_anything_signed_breaks_the_signature(header: str, value: str) -> None:
    metadata = stamped(at(1000)) | {header: value}
    with pytest.raises(Unauthenticated, match="invalid signature"):
        at(1000).verify(metadata, METHOD)


def test_a_stamp_is_for_one_method_only() -> None:
    with pytest.raises(Unauthenticated, match="invalid signature"):
        at(1000).verify(stamped(at(1000)), "/layercake.decision.v1.DecisionService/GetFeatures")


def test_another_secret_is_a_forgery() -> None:
    with pytest.raises(Unauthenticated, match="invalid signature"):
        at(1000).verify(stamped(at(1000, b"x" * 32)), METHOD)


def test_a_stamp_lapses_after_its_validity_either_way() -> None:
    assert at(1000 + VALIDITY).verify(stamped(at(1000)), METHOD) == ANN
    for now in (1000 + VALIDITY + 1, 1000 - VALIDITY - 1):
        with pytest.raises(Unauthenticated, match="expired"):
            at(now).verify(stamped(at(1000)), METHOD)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        InternalCalls(b"short")


def test_the_secret_never_shows_in_a_repr() -> None:
    assert "sss" not in repr(at(1000))
