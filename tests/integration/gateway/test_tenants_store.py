"""Tenant streams, their read models, replay, and the operator's ensure-tenant."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from services.gateway import handlers
from services.gateway.admin import app as admin_app
from services.gateway.bootstrap import build
from services.gateway.domain.commands import CreateTenant, IssueApiKey, RevokeApiKey
from services.gateway.domain.errors import ApiKeyAlreadyRevoked, TenantAlreadyExists
from services.gateway.store.tables import api_keys, tenants
from services.gateway.store.tenants import TenantRepository
from services.kernel.config import load_settings
from services.kernel.errors import ConcurrencyError
from services.kernel.principals import Actor
from services.kernel.store.database import Database
from services.kernel.store.event_store import EventStore
from services.kernel.store.projections import replay
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.gateway.conftest import RunningGateway

OPERATOR = Actor.system("operator")


def rows(db: Database) -> tuple[list[Any], list[Any]]:
    with db.transaction() as s:
        return (
            [tuple(r) for r in s.execute(select(tenants).order_by(tenants.c.tenant_id))],
            [tuple(r) for r in s.execute(select(api_keys).order_by(api_keys.c.key_id))],
        )


def stream(db: Database, tenant: str) -> list[tuple[int, str, Actor]]:
    with db.transaction() as s:
        return [
            (e.version, e.type, e.metadata.actor) for e in EventStore(s).load(f"tenant-{tenant}")
        ]


def test_tenant_and_keys_are_events_with_the_actor(
    gateway_db: Database, gateway_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    with gateway_uow() as uow:
        handlers.create_tenant(uow, CreateTenant(tenant, "Acme"), OPERATOR)
    with gateway_uow() as uow:
        key = handlers.issue_api_key(uow, IssueApiKey(tenant, ("ingest",), "ci"), OPERATOR)
    assert key.text.startswith(f"lc_{key.key_id}_")
    assert stream(gateway_db, tenant) == [
        (1, "layercake.gateway.v1.TenantCreated", OPERATOR),
        (2, "layercake.gateway.v1.ApiKeyIssued", OPERATOR),
    ]
    _, keys = rows(gateway_db)
    [row] = [r for r in keys if r[0] == key.key_id]
    assert key.text.split("_", 2)[2] not in str(row)  # the secret itself is never stored
    with gateway_uow() as uow, pytest.raises(TenantAlreadyExists):
        handlers.create_tenant(uow, CreateTenant(tenant), OPERATOR)


def test_revoke_twice_is_refused(gateway_uow: UnitOfWorkFactory) -> None:
    tenant = random_id("t")
    with gateway_uow() as uow:
        handlers.create_tenant(uow, CreateTenant(tenant), OPERATOR)
    with gateway_uow() as uow:
        key = handlers.issue_api_key(uow, IssueApiKey(tenant, ("admin",)), OPERATOR)
    with gateway_uow() as uow:
        handlers.revoke_api_key(uow, RevokeApiKey(tenant, key.key_id), OPERATOR)
    with gateway_uow() as uow, pytest.raises(ApiKeyAlreadyRevoked):
        handlers.revoke_api_key(uow, RevokeApiKey(tenant, key.key_id), OPERATOR)


def test_a_stale_writer_loses(gateway_uow: UnitOfWorkFactory) -> None:
    tenant = random_id("t")
    with gateway_uow() as uow:
        handlers.create_tenant(uow, CreateTenant(tenant), OPERATOR)
    with gateway_uow() as first, gateway_uow() as second:
        a = TenantRepository(first).get(tenant)
        a.issue_key("k1aaaaaa", "ab" * 32, ["admin"], "", first.now())
        TenantRepository(first).save(a, OPERATOR)
        first.commit()
        b = TenantRepository(second).get(tenant)
        b.version = 1  # as read before the first writer committed
        b.issue_key("k2bbbbbb", "cd" * 32, ["admin"], "", second.now())
        with pytest.raises(ConcurrencyError):
            TenantRepository(second).save(b, OPERATOR)


def test_replay_rebuilds_tenants_and_api_keys(
    gateway_db: Database, gateway_uow: UnitOfWorkFactory, tmp_path: Path
) -> None:
    for _ in range(2):
        tenant = random_id("t")
        with gateway_uow() as uow:
            handlers.create_tenant(uow, CreateTenant(tenant), OPERATOR)
        with gateway_uow() as uow:
            kept = handlers.issue_api_key(uow, IssueApiKey(tenant, ("ingest",)), OPERATOR)
        with gateway_uow() as uow:
            gone = handlers.issue_api_key(uow, IssueApiKey(tenant, ("admin",)), OPERATOR)
        with gateway_uow() as uow:
            handlers.revoke_api_key(uow, RevokeApiKey(tenant, gone.key_id, "test"), OPERATOR)
    before = rows(gateway_db)
    assert len(before[1]) == 4 and kept.key_id in {r[0] for r in before[1]}
    with gateway_db.transaction() as s:
        s.execute(delete(api_keys))
        s.execute(delete(tenants))
    app = build(load_settings("gateway", {"LAYERCAKE_STATE_DIR": str(tmp_path)}))
    with gateway_db.transaction() as s:
        assert replay(s, app.projections) == 8
    assert rows(gateway_db) == before


def admin(db: Database, tmp_path: Path, *args: str) -> Any:
    env = {"LAYERCAKE_GATEWAY_DATABASE_URL": db.url, "LAYERCAKE_STATE_DIR": str(tmp_path)}
    return CliRunner().invoke(admin_app, list(args), env=env)


def test_ensure_tenant_is_idempotent(gateway_db: Database, tmp_path: Path) -> None:
    tenant, env_file = random_id("t"), tmp_path / "demo.env"
    env_file.write_text("# mine\nOTHER=1\n")
    args = ("ensure-tenant", "--tenant", tenant, "--env-file", str(env_file))
    first = admin(gateway_db, tmp_path, *args)
    assert first.exit_code == 0, first.output
    key = first.stdout.strip()
    assert key.startswith("lc_")
    assert env_file.read_text() == (
        f"# mine\nOTHER=1\nLAYERCAKE_API_KEY={key}\nLAYERCAKE_TENANT={tenant}\n"
    )
    assert env_file.stat().st_mode & 0o777 == 0o600
    again = admin(gateway_db, tmp_path, *args)
    assert again.exit_code == 0 and again.stdout.strip() == key
    assert [t for _, t, _ in stream(gateway_db, tenant)] == [
        "layercake.gateway.v1.TenantCreated",
        "layercake.gateway.v1.ApiKeyIssued",
    ]
    _, keys = rows(gateway_db)
    assert [r[3] for r in keys if r[1] == tenant] == ["admin"]


def test_ensure_tenant_replaces_a_key_that_no_longer_works(
    gateway_db: Database, tmp_path: Path
) -> None:
    tenant, env_file = random_id("t"), tmp_path / "demo.env"
    args = ("ensure-tenant", "--tenant", tenant, "--env-file", str(env_file))
    key = admin(gateway_db, tmp_path, *args).stdout.strip()
    key_id = key.split("_")[1]
    revoked = admin(gateway_db, tmp_path, "revoke-key", "--tenant", tenant, "--key-id", key_id)
    assert revoked.exit_code == 0, revoked.output
    renewed = admin(gateway_db, tmp_path, *args).stdout.strip()
    assert renewed != key and f"LAYERCAKE_API_KEY={renewed}" in env_file.read_text()
    other_tenant = admin(
        gateway_db,
        tmp_path,
        "ensure-tenant",
        "--tenant",
        random_id("t"),
        "--env-file",
        str(env_file),
        "--scopes",
        "ingest,profiles:read",
    )
    assert other_tenant.exit_code == 0
    assert other_tenant.stdout.strip() != renewed  # a key of another tenant is no key here


def test_admin_refuses_unknown_scopes_without_a_traceback(
    gateway_db: Database, tmp_path: Path
) -> None:
    result = admin(
        gateway_db,
        tmp_path,
        "ensure-tenant",
        "--tenant",
        "acme",
        "--env-file",
        str(tmp_path / "x.env"),
        "--scopes",
        "root",
    )
    assert result.exit_code == 1
    assert "unknown scope 'root'" in result.output and "Traceback" not in result.output


async def test_key_from_admin_works_on_a_running_gateway(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    tenant = random_id("t")
    args = ("ensure-tenant", "--tenant", tenant, "--env-file", str(tmp_path / "d.env"))
    result = await asyncio.to_thread(admin, gateway.db, tmp_path, *args)
    key = result.stdout.strip()
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await gateway.stub.Ingest(gpb.IngestRequest(), metadata=(("x-api-key", key),))
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # authenticated, then refused
