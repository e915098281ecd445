"""The `layercake` CLI (typer's CliRunner) against a real gateway on a real nats-server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from typer.testing import CliRunner

from services.cli.app import app
from tests.conftest import random_id
from tests.integration.gateway.conftest import RunningGateway
from tests.integration.gateway.test_gateway_api import stored_count


def line(**extra: object) -> str:
    body = {
        "message_id": random_id("m-"),
        "type": "identify",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"cookie_id": random_id("ck-")},
        "traits": {"plan": "gold"},
    } | extra
    return json.dumps(body)


async def cli(gateway: RunningGateway, key: str | None, *args: str) -> Any:
    """Runs the CLI in a thread, since the gateway serves on this test's event loop."""
    env = {"LAYERCAKE_GATEWAY": gateway.addr, "LAYERCAKE_API_KEY": key, "LAYERCAKE_TIMEOUT": "10"}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def test_ingest_a_file_in_batches_then_again_as_duplicates(
    gateway: RunningGateway, js: JetStreamContext, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(line() for _ in range(5)) + "\n\n")
    key = gateway.key("ingest")
    first = await cli(gateway, key, "ingest", str(events), "--batch-size", "2")
    assert first.exit_code == 0, first.output
    assert "accepted 5, duplicate 0, rejected 0, failed 0" in first.stdout
    again = await cli(gateway, key, "ingest", str(events))
    assert "accepted 0, duplicate 5, rejected 0, failed 0" in again.stdout
    assert await stored_count(js, gateway.tenant) == 5


async def test_unknown_field_refuses_the_file_naming_the_line(
    gateway: RunningGateway, js: JetStreamContext, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([line(), line(colour="red"), line()]))
    result = await cli(gateway, gateway.key("ingest"), "ingest", str(events))
    assert result.exit_code == 1
    assert 'line 2: unknown field "colour"' in result.output
    assert "nothing was sent" in result.output
    assert await stored_count(js, gateway.tenant) == 0


async def test_rejected_lines_are_named_with_their_reasons_and_the_rest_accepted(
    gateway: RunningGateway, js: JetStreamContext, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    repeated = line()
    bad_email = line(identifiers={"email": "not-an-address"})
    events.write_text("\n".join([line(), repeated, line(identifiers={}), repeated, bad_email]))
    result = await cli(gateway, gateway.key("ingest"), "ingest", str(events), "--batch-size", "2")
    assert result.exit_code == 1
    assert "line 3: identifiers: at least one identifier is required" in result.output
    assert "line 5: identifiers.email: is not an email address" in result.output
    assert "accepted 2, duplicate 1, rejected 2, failed 0" in result.stdout
    assert "Traceback" not in result.output
    assert await stored_count(js, gateway.tenant) == 2


async def test_profile_get_as_json_and_table(gateway: RunningGateway) -> None:
    key = gateway.key("profiles:read")
    as_json = await cli(gateway, key, "profile", "get", "cookie_id:ck-81", "-o", "json")
    assert as_json.exit_code == 0, as_json.output
    profile = json.loads(as_json.stdout)
    assert profile["profile"]["profile_id"] == "p-1"
    table = await cli(gateway, key, "profile", "get", "cookie_id:ck-81")
    assert table.exit_code == 0 and "ck-81" in table.stdout and "p-1" in table.stdout


async def test_errors_are_one_line_with_the_code(gateway: RunningGateway) -> None:
    missing = await cli(gateway, gateway.key(), "profile", "get", "email:nobody@example.com")
    assert missing.exit_code == 1
    assert missing.output.strip() == "error: NOT_FOUND: no profile 'email:nobody@example.com'"
    denied = await cli(gateway, gateway.key("ingest"), "profile", "get", "cookie_id:x")
    assert denied.exit_code == 1 and "PERMISSION_DENIED" in denied.output
    anonymous = await cli(gateway, None, "profile", "get", "cookie_id:x")
    assert anonymous.exit_code == 2 and "LAYERCAKE_API_KEY is not set" in anonymous.output
    wrong = await cli(gateway, "lc_0123456789abcdef_nope", "profile", "get", "cookie_id:x")
    assert wrong.exit_code == 1 and "UNAUTHENTICATED" in wrong.output
    for result in (missing, denied, anonymous, wrong):
        assert "Traceback" not in result.output


async def test_principals_roles_and_keys_through_the_cli(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    admin = gateway.key()
    created = await cli(gateway, admin, "principal", "create", "ed", "--role", "editor,viewer")
    assert created.exit_code == 0, created.output
    assert "person:ed (editor viewer)" in created.output
    listed = json.loads((await cli(gateway, admin, "principal", "list", "-o", "json")).stdout)
    assert {p["principal_id"]: p["roles"] for p in listed["principals"]} == {
        "admin": ["admin"],
        "ed": ["editor", "viewer"],
    }
    issued = await cli(gateway, admin, "key", "create", "--principal", "ed", "--scopes", "ingest")
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip()
    events = tmp_path / "events.jsonl"
    events.write_text(line() + "\n")
    assert (await cli(gateway, key, "ingest", str(events))).exit_code == 0
    revoked = await cli(gateway, admin, "principal", "revoke", "ed", "editor")
    assert revoked.exit_code == 0 and "person:ed (viewer)" in revoked.output
    denied = await cli(gateway, key, "ingest", str(events))
    assert denied.exit_code == 1 and "PERMISSION_DENIED" in denied.output
    assert "'ingest'" in denied.output
    keys = json.loads(
        (await cli(gateway, admin, "key", "list", "--principal", "ed", "-o", "json")).stdout
    )
    [ed_key] = keys["api_keys"]
    assert (ed_key["scopes"], ed_key.get("effective_scopes", [])) == (["ingest"], [])
    assert (await cli(gateway, admin, "principal", "grant", "ed", "editor")).exit_code == 0
    table = await cli(gateway, admin, "key", "list")
    assert ed_key["key_id"] in table.stdout and "Traceback" not in table.output
    gone = await cli(gateway, admin, "key", "revoke", ed_key["key_id"], "--reason", "rotated")
    assert gone.exit_code == 0 and f"revoked {ed_key['key_id']} of ed" in gone.output
    beyond = await cli(gateway, admin, "key", "create", "--principal", "ed", "--scopes", "admin")
    assert beyond.exit_code == 1
    assert beyond.output.startswith("error: INVALID_ARGUMENT") and "scopes" in beyond.output
    not_admin = await cli(gateway, key, "principal", "list")
    assert not_admin.exit_code == 1 and "UNAUTHENTICATED" in not_admin.output  # revoked key


async def test_a_tracking_plan_through_the_cli(gateway: RunningGateway, tmp_path: Path) -> None:
    admin = gateway.key()
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "unplanned: allow\n"
        "events:\n"
        "  identify:\n"
        "    mode: reject\n"
        "    schema: {properties: {plan: {type: string, maxLength: 3}}}\n"
    )
    applied = await cli(gateway, admin, "plan", "apply", str(plan))
    assert applied.exit_code == 0 and "tracking plan version 1" in applied.output
    events = tmp_path / "events.jsonl"
    events.write_text(line() + "\n")  # its plan is "gold": one letter too many
    rejected = await cli(gateway, admin, "ingest", str(events))
    assert rejected.exit_code == 1 and "traits.plan" in rejected.output
    shown = json.loads((await cli(gateway, admin, "plan", "get", "-o", "json")).stdout)
    assert shown["tracking_plan"]["version"] == "1"
    assert shown["counts"][0]["event_type"] == "identify"
    assert shown["counts"][0]["rejected_count"] == "1"
    table = await cli(gateway, admin, "plan", "get")
    assert "identify" in table.stdout and "reject" in table.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"unplanned": "never"}')
    refused = await cli(gateway, admin, "plan", "apply", str(bad))
    assert refused.exit_code == 1 and "plan.unplanned" in refused.output
