"""The gatekeeper's memory of admitted keys: never admits past a revocation or a narrowed role."""

from __future__ import annotations

import hashlib

import pytest

from services.gateway import handlers
from services.gateway.api.auth import Gatekeeper, KeyDirectory
from services.gateway.domain.commands import (
    CreatePrincipal,
    CreateTenant,
    IssueApiKey,
    RevokeApiKey,
    RevokeRole,
)
from services.gateway.domain.ratelimit import RateLimiter
from services.gateway.rate_limits import SharedRateLimiter
from services.kernel.errors import PermissionDenied, Unauthenticated
from services.kernel.principals import Actor, Scope
from tests.unit.gateway.fakes import CountingLayer

OPERATOR = Actor.system("test")


async def setup() -> tuple[CountingLayer, Gatekeeper, str, str]:
    """A gatekeeper over a loaded directory, and the text and id of an editor's key."""
    layer = CountingLayer()
    await layer.run(handlers.create_tenant, CreateTenant("acme"), OPERATOR)
    created = CreatePrincipal("acme", "ci", "system", roles=("editor",))
    await layer.run(handlers.create_principal, created, OPERATOR)
    issued = await layer.run(handlers.issue_api_key, IssueApiKey("acme", "ci"), OPERATOR)
    directory = KeyDirectory(layer)
    await directory.load()
    gate = Gatekeeper(
        directory, SharedRateLimiter(layer, 1000, 1000, clock=lambda: 0.0), RateLimiter(100, 100)
    )
    return layer, gate, issued.text, issued.key_id


def bearer(text: str) -> list[tuple[str, str | bytes]]:
    return [("user-agent", "grpc"), ("authorization", f"Bearer {text}")]


async def test_a_key_admitted_again_is_not_hashed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    _, gate, text, key_id = await setup()
    first = await gate.admit(bearer(text), Scope.INGEST)
    hashed: list[bytes] = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda data=b"": hashed.append(data) or real(data))
    again = await gate.admit([("x-api-key", text)], Scope.INGEST)
    assert again == first and again.key_id == key_id and again.tenant_id == "acme"
    assert hashed == []


async def test_a_wrong_secret_is_refused_after_the_right_one_was_admitted() -> None:
    _, gate, text, _ = await setup()
    await gate.admit(bearer(text), Scope.INGEST)
    with pytest.raises(Unauthenticated):
        await gate.admit(bearer(text[:-2] + ("aa" if text[-2:] != "aa" else "bb")), Scope.INGEST)


async def test_a_revoked_key_is_refused_at_its_next_call() -> None:
    layer, gate, text, key_id = await setup()
    await gate.admit(bearer(text), Scope.INGEST)
    await layer.run(handlers.revoke_api_key, RevokeApiKey("acme", key_id), OPERATOR)
    gate.directory.invalidate("acme", "ci")  # what the servicer (or the tenant's event) does
    with pytest.raises(Unauthenticated, match="revoked"):
        await gate.admit(bearer(text), Scope.INGEST)


async def test_a_revoked_role_narrows_an_admitted_key_at_its_next_call() -> None:
    layer, gate, text, _ = await setup()
    await gate.admit(bearer(text), Scope.INGEST)
    await layer.run(handlers.revoke_role, RevokeRole("acme", "ci", "editor"), OPERATOR)
    gate.directory.invalidate("acme", "ci")
    with pytest.raises(PermissionDenied, match="ingest"):
        await gate.admit(bearer(text), Scope.INGEST)


async def test_a_scope_the_key_lacks_is_refused_even_once_admitted() -> None:
    _, gate, text, _ = await setup()
    await gate.admit(bearer(text), Scope.INGEST)
    with pytest.raises(PermissionDenied):
        await gate.admit(bearer(text), Scope.ADMIN)
