"""`layercake journey|template|facts` (typer's CliRunner) against the real gateway and the
real orchestrator: the four-eyes lifecycle by three people, tables and `-o json`, and
errors as one line with a non-zero exit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from typer.testing import CliRunner

from services.cli.app import app
from services.orchestrator.domain.journeys import read_journey
from tests.integration.conftest import Services
from tests.integration.gateway.team import Team, team
from tests.integration.gateway.test_journeys_api import WELCOME, WELCOME_2


async def run_cli(gateway: str, key: str | None, *args: str) -> Any:
    """Runs the CLI in a thread, since the services serve on this test's event loop."""
    env = {"LAYERCAKE_GATEWAY": gateway, "LAYERCAKE_API_KEY": key, "LAYERCAKE_TIMEOUT": "10"}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def cli(t: Team, who: str | None, *args: str) -> Any:
    return await run_cli(t.gateway, t.keys[who] if who else None, *args)


async def ok(t: Team, who: str, *args: str) -> str:
    result = await cli(t, who, *args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return str(result.output)


async def test_a_journey_reviewed_published_and_rolled_back_from_the_cli(
    services: Services, tmp_path: Path
) -> None:
    first, second = tmp_path / "welcome.yaml", tmp_path / "welcome-2.yaml"
    first.write_text(WELCOME)
    second.write_text(WELCOME_2)
    async with team(services) as t:
        applied = await ok(t, "ann", "journey", "apply", str(first), "--reason", "first cut")
        assert "journey welcome version 1: draft" in applied
        assert "submitted" in await ok(t, "ann", "journey", "submit", "welcome")
        await ok(t, "admin", "journey", "approve", "welcome")  # ann wrote it: anyone else may
        await ok(t, "ops", "journey", "publish", "welcome")

        await ok(t, "ann", "journey", "apply", str(second))
        await ok(t, "ann", "journey", "submit", "welcome")
        refused = await cli(t, "ann", "journey", "approve", "welcome")
        assert refused.exit_code == 1
        assert refused.output.startswith("error: PERMISSION_DENIED: ")
        assert refused.output.count("\n") == 1 and "assets:approve" in refused.output
        await ok(t, "cat", "journey", "approve", "welcome")
        assert "version 2: published" in await ok(t, "ops", "journey", "publish", "welcome")

        listed = json.loads(await ok(t, "vic", "journey", "list", "-o", "json"))
        assert [(v["asset_id"], v["version"], v["state"]) for v in listed["versions"]] == [
            ("welcome", "2", "published")
        ]
        table = await ok(t, "vic", "journey", "list")
        assert "welcome" in table and "published" in table and "growth-team" in table
        diff = json.loads(await ok(t, "vic", "journey", "diff", "welcome", "1", "2", "-o", "json"))
        paths = {c["path"]: c["kind"] for c in diff["changes"]}
        assert paths["content.steps[0].id"] == "changed"
        assert "content.steps[0].wait.duration" in await ok(
            t, "vic", "journey", "diff", "welcome", "1", "2"
        )
        shown = json.loads(await ok(t, "vic", "journey", "get", "welcome", "-o", "json"))
        assert shown["definition"]["steps"][0]["id"] == "settle-2"
        assert "settle-2" in await ok(t, "vic", "journey", "get", "welcome")

        back = await ok(t, "ops", "journey", "rollback", "welcome", "--to-version", "1")
        assert "journey welcome version 3: published (a copy of version 1)" in back
        assert "no runs yet" in await ok(t, "vic", "journey", "stats", "welcome")
        stats = json.loads(await ok(t, "vic", "journey", "stats", "welcome", "-o", "json"))
        assert stats == {}
        assert "paused" in await ok(t, "ops", "journey", "pause", "welcome")
        dry = await ok(
            t,
            "ops",
            "journey",
            "migrate",
            "welcome",
            "--from",
            "1",
            "--to",
            "3",
            "--map",
            "settle=settle",
            "--dry-run",
        )
        assert "would move (dry run): no runs" in dry


async def test_a_journey_applied_from_a_protobuf_json_file(
    services: Services, tmp_path: Path
) -> None:
    content, _ = read_journey(WELCOME.replace("journey: welcome", "journey: welcome-json"))
    document = json_format.MessageToDict(content, preserving_proto_field_name=True)
    document["metadata"] = {"owner": "growth-team"}
    good, bad = tmp_path / "welcome.json", tmp_path / "bad.json"
    good.write_text(json.dumps(document))
    document["steps"][0]["next"] = "nowhere"
    bad.write_text(json.dumps(document))
    async with team(services) as t:
        applied = await ok(t, "ann", "journey", "apply", str(good))
        assert "journey welcome-json version 1: draft" in applied
        shown = json.loads(await ok(t, "vic", "journey", "get", "welcome-json", "-o", "json"))
        assert shown["version"]["metadata"]["owner"] == "growth-team"
        assert [s["id"] for s in shown["definition"]["steps"]] == ["settle", "done"]
        refused = await cli(t, "ann", "journey", "apply", str(bad))
        assert refused.exit_code == 1, refused.output
        assert refused.output.startswith("error: INVALID_ARGUMENT: ")
        assert "steps[settle].next" in refused.output and "nowhere" in refused.output
        listed = json.loads(await ok(t, "vic", "journey", "list", "-o", "json"))
        assert [(v["asset_id"], v["version"]) for v in listed["versions"]] == [
            ("welcome-json", "1")
        ]


async def test_templates_and_facts_from_the_cli(services: Services, tmp_path: Path) -> None:
    mail = tmp_path / "hello.json"
    mail.write_text(
        json.dumps(
            {
                "template_id": "hello",
                "channel": "email",
                "subject": "Hello",
                "body": "Hi {{ profile.traits.first_name }}.",
                "metadata": {"owner": "growth-team"},
            }
        )
    )
    async with team(services) as t:
        assert "template hello version 1: draft" in await ok(
            t, "ann", "template", "apply", str(mail)
        )
        shown = json.loads(await ok(t, "vic", "template", "get", "hello", "-o", "json"))
        assert shown["version"]["metadata"]["owner"] == "growth-team"
        assert "profile.traits.first_name" in shown["definition"]["variables"]

        assert "2 of 2 levels applied" in await ok(
            t, "crm", "facts", "set", "s-12", "water=0", "soda=7"
        )
        held = json.loads(
            await ok(t, "vic", "facts", "get", "s-12", "water", "soda", "gin", "-o", "json")
        )
        assert [(s["product"], s["units"]) for s in held["stock_levels"]] == [
            ("water", "0"),
            ("soda", "7"),
        ]
        table = await ok(t, "vic", "facts", "get", "s-12", "water", "gin")
        assert "water" in table and "unknown" in table

        bad = await cli(t, "crm", "facts", "set", "s-12", "water")
        assert bad.exit_code == 2 and "write PRODUCT=UNITS" in bad.output
        denied = await cli(t, "vic", "facts", "set", "s-12", "water=1")
        assert denied.exit_code == 1 and "PERMISSION_DENIED" in denied.output
        assert "facts:write" in denied.output
        missing = await cli(t, "vic", "journey", "get", "nowhere")
        assert missing.exit_code == 1 and missing.output.startswith("error: NOT_FOUND: ")
        anonymous = await cli(t, None, "journey", "list")
        assert anonymous.exit_code == 2 and "LAYERCAKE_API_KEY is not set" in anonymous.output
        broken = tmp_path / "broken.yaml"
        broken.write_text(WELCOME.replace("next: done", "next: nowhere"))
        invalid = await cli(t, "ann", "journey", "apply", str(broken))
        assert invalid.exit_code == 1
        assert "INVALID_ARGUMENT: steps[settle].next" in invalid.output
        for result in (bad, denied, missing, anonymous, invalid):
            assert "Traceback" not in result.output
