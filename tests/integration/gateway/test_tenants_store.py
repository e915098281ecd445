"""Tenant and principal streams, their read models, replay, and the operator's commands."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from services.cli.app import app as layercake
from services.gateway import handlers
from services.gateway.admin import app as admin_app
from services.gateway.bootstrap import build
from services.gateway.domain.commands import (
    CreatePrincipal,
    CreateTenant,
    GrantRole,
    IssueApiKey,
    RevokeApiKey,
    RevokeRole,
)
from services.gateway.domain.errors import (
    ApiKeyAlreadyRevoked,
    ApiKeyNotFound,
    TenantAlreadyExists,
    TenantNotFound,
)
from services.gateway.store.tables import api_keys, principals, tenants
from services.kernel.config import load_settings
from services.kernel.errors import ConcurrencyError
from services.kernel.principals import Actor, PrincipalKind, Role, Scope
from services.kernel.store.database import Database
from services.kernel.store.event_store import EventStore
from services.kernel.store.projections import replay
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.gateway.conftest import RunningGateway

OPERATOR = Actor.system("operator")
ANN = Actor("ann", PrincipalKind.PERSON)


def rows(db: Database) -> tuple[list[Any], ...]:
    with db.transaction() as s:
        return tuple(
            [tuple(r) for r in s.execute(select(table).order_by(*table.primary_key.columns))]
            for table in (tenants, principals, api_keys)
        )


def stream(db: Database, stream_id: str) -> list[tuple[int, str, Actor]]:
    with db.transaction() as s:
        return [(e.version, e.type, e.metadata.actor) for e in EventStore(s).load(stream_id)]


def tenant_with_ann(uow: UnitOfWorkFactory, *roles: str) -> str:
    tenant = random_id("t")
    with uow() as unit:
        handlers.create_tenant(unit, CreateTenant(tenant, "Acme"), OPERATOR)
    with uow() as unit:
        handlers.create_principal(
            unit, CreatePrincipal(tenant, "ann", "person", "", roles), OPERATOR
        )
    return tenant


def test_principals_roles_and_keys_are_events_with_the_acting_principal(
    gateway_db: Database, gateway_uow: UnitOfWorkFactory
) -> None:
    tenant = tenant_with_ann(gateway_uow, "editor")
    with gateway_uow() as uow:
        key = handlers.issue_api_key(uow, IssueApiKey(tenant, "ann", ("ingest",), "ci"), ANN)
    with gateway_uow() as uow:
        handlers.revoke_role(uow, RevokeRole(tenant, "ann", "editor"), ANN)
    assert key.text.startswith(f"lc_{key.key_id}_")
    assert stream(gateway_db, f"tenant-{tenant}") == [
        (1, "layercake.gateway.v1.TenantCreated", OPERATOR)
    ]
    assert stream(gateway_db, f"principal-{tenant}/ann") == [
        (1, "layercake.gateway.v1.PrincipalCreated", OPERATOR),
        (2, "layercake.gateway.v1.RoleGranted", OPERATOR),
        (3, "layercake.gateway.v1.ApiKeyIssued", ANN),
        (4, "layercake.gateway.v1.RoleRevoked", ANN),
    ]
    _, people, keys = rows(gateway_db)
    assert [(p[1], p[2], p[4], p[5]) for p in people if p[0] == tenant] == [
        ("ann", "person", "", 4)
    ]
    [row] = [r for r in keys if r[0] == key.key_id]
    assert key.text.split("_", 2)[2] not in str(row)  # the secret itself is never stored
    with gateway_uow() as uow, pytest.raises(TenantAlreadyExists):
        handlers.create_tenant(uow, CreateTenant(tenant), OPERATOR)
    with gateway_uow() as uow, pytest.raises(TenantNotFound):
        handlers.create_principal(uow, CreatePrincipal("ghost", "ann", "person"), OPERATOR)


def test_role_and_key_changes_go_to_the_outbox_for_every_replica(
    gateway_db: Database, gateway_uow: UnitOfWorkFactory
) -> None:
    tenant = tenant_with_ann(gateway_uow, "viewer")
    with gateway_uow() as uow:
        key = handlers.issue_api_key(uow, IssueApiKey(tenant, "ann"), OPERATOR)
    with gateway_uow() as uow:
        handlers.grant_role(uow, GrantRole(tenant, "ann", "editor"), OPERATOR)
    with gateway_uow() as uow:
        handlers.revoke_api_key(uow, RevokeApiKey(tenant, key.key_id), OPERATOR)
    with gateway_db.transaction() as s:
        subjects = s.execute(
            select(outbox.c.subject).where(outbox.c.tenant_id == tenant).order_by(outbox.c.id)
        ).scalars()
        assert list(subjects) == [
            f"layercake.{tenant}.gateway.role_granted",  # viewer, at creation
            f"layercake.{tenant}.gateway.role_granted",
            f"layercake.{tenant}.gateway.api_key_revoked",
        ]


def test_revoke_a_key_once_and_only_in_its_tenant(gateway_uow: UnitOfWorkFactory) -> None:
    tenant, other = tenant_with_ann(gateway_uow, "admin"), tenant_with_ann(gateway_uow, "admin")
    with gateway_uow() as uow:
        key = handlers.issue_api_key(uow, IssueApiKey(tenant, "ann"), OPERATOR)
    with gateway_uow() as uow, pytest.raises(ApiKeyNotFound):
        handlers.revoke_api_key(uow, RevokeApiKey(other, key.key_id), OPERATOR)
    with gateway_uow() as uow:
        revoked = handlers.revoke_api_key(uow, RevokeApiKey(tenant, key.key_id), OPERATOR)
    assert revoked.revoke_time is not None and revoked.effective_scopes == frozenset()
    with gateway_uow() as uow, pytest.raises(ApiKeyAlreadyRevoked):
        handlers.revoke_api_key(uow, RevokeApiKey(tenant, key.key_id), OPERATOR)


def test_a_stale_writer_loses(gateway_uow: UnitOfWorkFactory) -> None:
    tenant = tenant_with_ann(gateway_uow, "admin")
    with gateway_uow() as first, gateway_uow() as second:
        a = first.accounts.get(tenant, "ann")
        a.issue_key("k1aaaaaa", "ab" * 32, ["admin"], "", first.now())
        first.accounts.save(a, OPERATOR)
        first.commit()
        b = second.accounts.get(tenant, "ann")
        b.version = 2  # as read before the first writer committed
        b.revoke_role("admin", second.now())
        with pytest.raises(ConcurrencyError):
            second.accounts.save(b, OPERATOR)
            second.flush()  # appends are written behind: the conflict shows at the flush


def test_the_door_reads_a_key_with_its_principals_current_roles(
    gateway_uow: UnitOfWorkFactory, gateway_db: Database
) -> None:
    tenant = tenant_with_ann(gateway_uow, "editor", "approver")
    with gateway_uow() as uow:
        key = handlers.issue_api_key(uow, IssueApiKey(tenant, "ann"), OPERATOR)
    with gateway_uow() as uow:
        handlers.revoke_role(uow, RevokeRole(tenant, "ann", "approver"), OPERATOR)
    with gateway_uow() as uow:
        record = handlers.find_api_keys(uow, [key.key_id, "missing0"])[key.key_id]
    assert Scope.ASSETS_APPROVE in record.scopes
    assert record.principal.roles == {Role.EDITOR}
    assert record.principal.actor == ANN and record.tenant_id == tenant


def test_pages_of_principals_and_keys(gateway_uow: UnitOfWorkFactory) -> None:
    tenant = tenant_with_ann(gateway_uow, "admin")
    for name in ("bob", "cy", "dee"):
        with gateway_uow() as uow:
            handlers.create_principal(
                uow, CreatePrincipal(tenant, name, "system", "", ("viewer",)), OPERATOR
            )
    seen: list[str] = []
    token = ""
    with gateway_uow() as uow:
        while True:
            page = handlers.list_principals(uow, tenant, 3, token)
            seen += [p.principal_id for p in page.items]
            token = page.next_page_token
            if not token:
                break
        assert seen == ["ann", "bob", "cy", "dee"]
        assert handlers.list_api_keys(uow, tenant, "", 0, "").items == []


def test_replay_rebuilds_tenants_principals_and_api_keys(
    gateway_db: Database, gateway_uow: UnitOfWorkFactory, tmp_path: Path
) -> None:
    for _ in range(2):
        tenant = tenant_with_ann(gateway_uow, "editor", "viewer")
        with gateway_uow() as uow:
            handlers.issue_api_key(uow, IssueApiKey(tenant, "ann", ("ingest",)), OPERATOR)
        with gateway_uow() as uow:
            gone = handlers.issue_api_key(uow, IssueApiKey(tenant, "ann"), OPERATOR)
        with gateway_uow() as uow:
            handlers.revoke_api_key(uow, RevokeApiKey(tenant, gone.key_id, "test"), OPERATOR)
        with gateway_uow() as uow:
            handlers.revoke_role(uow, RevokeRole(tenant, "ann", "viewer"), OPERATOR)
    before = rows(gateway_db)
    assert [len(table) for table in before] == [2, 2, 4]
    with gateway_db.transaction() as s:
        for table in (api_keys, principals, tenants):
            s.execute(delete(table))
    app = build(load_settings("gateway", {"LAYERCAKE_STATE_DIR": str(tmp_path)}))
    with gateway_db.transaction() as s:
        assert replay(s, app.projections) == 2 * 8
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
        f"# mine\nOTHER=1\nexport LAYERCAKE_API_KEY={key}\nexport LAYERCAKE_TENANT={tenant}\n"
    )
    assert env_file.stat().st_mode & 0o777 == 0o600
    sourced = subprocess.run(
        ["bash", "-c", 'source "$1" && printenv LAYERCAKE_API_KEY', "-", str(env_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert sourced.stdout.strip() == key  # `source` alone hands the key to the CLI
    again = admin(gateway_db, tmp_path, *args)
    assert again.exit_code == 0 and again.stdout.strip() == key
    gateway_admin = Actor.system("gateway-admin")
    assert stream(gateway_db, f"principal-{tenant}/admin") == [
        (1, "layercake.gateway.v1.PrincipalCreated", gateway_admin),
        (2, "layercake.gateway.v1.RoleGranted", gateway_admin),
        (3, "layercake.gateway.v1.ApiKeyIssued", gateway_admin),
    ]
    _, people, keys = rows(gateway_db)
    assert [(p[1], p[2], p[4]) for p in people if p[0] == tenant] == [("admin", "person", "admin")]
    assert [r[3] for r in keys if r[1] == tenant] == [" ".join(sorted(s.value for s in Scope))]


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
    assert renewed != key and f"export LAYERCAKE_API_KEY={renewed}" in env_file.read_text()
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


def test_admin_commands_manage_principals_roles_and_keys(
    gateway_db: Database, tmp_path: Path
) -> None:
    tenant = random_id("t")
    admin(gateway_db, tmp_path, "ensure-tenant", "--tenant", tenant, "--env-file", "/dev/null")

    def run(*args: str) -> Any:
        result = admin(gateway_db, tmp_path, "--actor", "person:root", *args, "--tenant", tenant)
        assert result.exit_code == 0, result.output
        return result

    run("create-principal", "--principal", "ci", "--kind", "system", "--roles", "editor")
    run("grant-role", "--principal", "ci", "--role", "operator")
    key = run("issue-key", "--principal", "ci", "--scopes", "ingest").stdout.strip()
    run("revoke-role", "--principal", "ci", "--role", "editor")
    listing = json.loads(run("list", "-o", "json").stdout)
    ci = next(p for p in listing if p["principal_id"] == "ci")
    assert (ci["kind"], ci["roles"]) == ("system", ["operator"])
    assert [(k["key_id"], k["effective_scopes"]) for k in ci["keys"]] == [
        (key.split("_")[1], ["ingest"])
    ]
    run("revoke-key", "--key-id", key.split("_")[1], "--reason", "rotated")
    text = run("list").stdout
    assert "system:ci  roles: operator" in text and "revoked" in text
    assert stream(gateway_db, f"principal-{tenant}/ci")[-1][2] == Actor(
        "root", PrincipalKind.PERSON
    )
    beyond = admin(
        gateway_db,
        tmp_path,
        "issue-key",
        "--tenant",
        tenant,
        "--principal",
        "ci",
        "--scopes",
        "admin",
    )
    assert beyond.exit_code == 1 and "scope 'admin' is not granted" in beyond.output
    bad_actor = admin(gateway_db, tmp_path, "--actor", "root", "list", "--tenant", tenant)
    assert bad_actor.exit_code == 2 and "--actor" in bad_actor.output


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


def test_the_cli_creates_a_tenant_and_prints_its_admin_key(
    gateway_db: Database, tmp_path: Path
) -> None:
    tenant, env_file = random_id("t"), tmp_path / "keys" / "acme.env"
    env = {"LAYERCAKE_GATEWAY_DATABASE_URL": gateway_db.url, "LAYERCAKE_STATE_DIR": str(tmp_path)}
    args = ["tenant", "create", tenant, "--env-file", str(env_file), "--display-name", "Acme"]
    made = CliRunner().invoke(layercake, args, env=env)
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("lc_") and f"export LAYERCAKE_API_KEY={key}" in env_file.read_text()
    again = CliRunner().invoke(layercake, args, env=env)
    assert again.exit_code == 0 and again.stdout.strip() == key  # once, then kept
    bad = CliRunner().invoke(
        layercake, ["tenant", "create", "Not A Tenant", "--env-file", str(env_file)], env=env
    )
    assert bad.exit_code != 0 and bad.output.startswith("error: ") and "Traceback" not in bad.output
