"""The `layercake` commands of profiles, audiences, models, offers and decisions (typer's
CliRunner) against the real gateway, identity and decision on a real nats-server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from typer.testing import CliRunner

from services.cli.app import app
from services.decision import training
from tests.conftest import random_id
from tests.integration.conftest import Services
from tests.integration.gateway.partner import Partner, catalog_yaml, partner
from tests.polling import eventually


class Failed(AssertionError):
    """A command that did not exit 0 (retried by `eventually`)."""


@pytest.fixture
async def a(services: Services) -> AsyncIterator[Partner]:
    async with grpc.aio.insecure_channel(services.addr(services.gateway)) as channel:
        yield await partner(services, channel)


def runner(services: Services, key: str | None) -> Any:
    env = {
        "LAYERCAKE_GATEWAY": services.addr(services.gateway),
        "LAYERCAKE_API_KEY": key,
        "LAYERCAKE_TIMEOUT": "10",
    }

    async def run(*args: str, code: int = 0) -> Any:
        """Runs the CLI in a thread (the services serve on this test's loop)."""
        result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
        if result.exit_code != code:
            raise Failed(f"{args}: exit {result.exit_code}: {result.output}")
        assert "Traceback" not in result.output
        return result

    return run


async def test_profiles_audiences_models_offers_and_decisions_from_the_command_line(
    services: Services, a: Partner, tmp_path: Path
) -> None:
    admin, reviewer = runner(services, a.admin), runner(services, a.reviewer)
    email, cookie = f"{random_id('ann')}@example.com", random_id("ck-")
    events = tmp_path / "events.jsonl"
    identified = {"email": email, "cookie_id": cookie}
    events.write_text(
        "\n".join(
            json.dumps(
                {
                    "message_id": random_id("m-"),
                    "type": "identify",
                    "timestamp": f"2026-03-0{day}T12:00:00Z",
                    "identifiers": identified,
                    "traits": {"plan": plan},
                }
            )
            for day, plan in ((1, "gold"), (2, "platinum"))
        )
    )
    await admin("ingest", str(events))
    ref = f"email:{email}"

    async def platinum() -> dict[str, Any] | None:
        found = json.loads((await admin("profile", "get", ref, "-o", "json")).stdout)["profile"]
        return found if found["traits"]["plan"]["value"] == "platinum" else None

    profile = await eventually(platinum, timeout=20, interval=0.2)
    table = (await admin("profile", "get", ref)).stdout
    assert cookie in table and "platinum" in table
    timeline = json.loads((await admin("profile", "timeline", ref, "-o", "json")).stdout)
    assert [e["type"] for e in timeline["events"]] == ["identify", "identify"]
    assert "identify" in (await admin("profile", "timeline", ref, "--limit", "1")).stdout
    traits = (await admin("profile", "traits", ref)).stdout
    assert "plan" in traits and "platinum" in traits and "gold" not in traits
    history = json.loads((await admin("profile", "traits", ref, "--history", "-o", "json")).stdout)
    assert [(c["trait"], c["value"]) for c in history["changes"]] == [
        ("plan", "platinum"),
        ("plan", "gold"),
    ]
    newest = (
        await admin("profile", "traits", ref, "--history", "-t", "plan", "--limit", "1")
    ).stdout
    assert "platinum" in newest and "gold" not in newest
    found = json.loads((await admin("profile", "search", "plan", "platinum", "-o", "json")).stdout)
    assert [p["profile_id"] for p in found["profiles"]] == [profile["profile_id"]]
    listed = (await admin("profile", "search", "plan", '"platinum"')).stdout
    assert 'profiles with plan = "platinum": 1' in listed and "email (hashed)" in listed
    assert "profile" not in (await admin("profile", "search", "plan", "gold", "-o", "json")).stdout

    audience = random_id("platinum-")
    definition = tmp_path / "audience.yaml"
    definition.write_text(
        f"audience: {audience}\nowner: growth\ndescription: best customers\n"
        "rule: profile.traits.plan == 'platinum'\n"
    )
    applied = await admin("audience", "apply", str(definition))
    assert f"audience {audience} version 1: draft" in applied.stdout
    await admin("audience", "submit", audience)
    await reviewer("audience", "approve", audience, "--reason", "looks right")
    published = await reviewer("audience", "publish", audience)
    assert f"audience {audience} version 1: published" in published.output

    async def one_member() -> dict[str, Any] | None:
        members = json.loads((await admin("audience", "members", audience, "-o", "json")).stdout)
        return members if members.get("total_size") == "1" else None

    members = await eventually(one_member, timeout=20, interval=0.2)
    assert [m["profile_id"] for m in members["members"]] == [profile["profile_id"]]
    listed = json.loads((await admin("audience", "list", "-o", "json")).stdout)
    assert [x["version"]["asset_id"] for x in listed["audiences"]] == [audience]
    assert audience in (await admin("audience", "list")).stdout

    model = random_id("propensity-")
    registered = await admin(
        "model",
        "register",
        str(training.DEFAULT_PATH),
        "--name",
        model,
        "--features",
        ",".join(training.FEATURES),
        "--version",
        "v1",
    )
    assert f"model {model} version v1 registered" in registered.stdout
    assert "submitted" in (await admin("model", "promote", model, "v1")).stdout
    await reviewer("model", "approve", model)
    assert "published" in (await reviewer("model", "publish", model)).stdout
    models = json.loads((await admin("model", "list", "-o", "json")).stdout)["models"]
    assert [(m["model_name"], m["stage"]) for m in models] == [(model, "MODEL_STAGE_CHAMPION")]
    assert "champion" in (await admin("model", "list", "--name", model)).stdout

    placement, water, soda = random_id("pl-"), random_id("water-"), random_id("soda-")
    catalog = tmp_path / "offers.yaml"
    catalog.write_text(catalog_yaml(placement, water, soda))
    applied = await admin("offer", "apply", str(catalog))
    assert f"placement {placement} version 1: draft" in applied.stdout
    for asset in (f"placement/{placement}", f"action/{water}", f"action/{soda}"):
        await admin("offer", "submit", asset)
        await reviewer("offer", "approve", asset)
        assert "published" in (await reviewer("offer", "publish", asset)).output

    offers = json.loads((await admin("offer", "list", "-o", "json")).stdout)["offers"]
    assert [(o["action_id"], o["state"]) for o in offers] == sorted(
        [(soda, "published"), (water, "published")]
    )
    shown = (await admin("offer", "get", water)).stdout
    assert "eligibility" in shown and "product" in shown and placement in shown
    assert (
        json.loads((await admin("offer", "get", soda, "-o", "json")).stdout)["offer"]["value"]
        == 2.0
    )
    assert water in (await admin("offer", "list")).stdout
    missing = await admin("offer", "get", "no-such-offer", code=1)
    assert missing.output.startswith("error: NOT_FOUND")

    async def both_offers() -> dict[str, Any] | None:
        answer = json.loads(
            (await admin("decide", ref, "--placement", placement, "-o", "json")).stdout
        )
        return answer if len(answer.get("actions", [])) == 2 else None

    decided = await eventually(both_offers, timeout=20, interval=0.2)
    assert [x["action_id"] for x in decided["actions"]] == [soda, water]
    shown = (await admin("decide", ref, "-p", placement, "--context", '{"channel": "web"}')).stdout
    assert soda in shown and "ranked by value" in shown
    decision = decided["decision_id"]
    clicked = await admin("outcome", decision, soda, "clicked", "--at", "2026-03-03T10:00:00Z")
    assert f"recorded clicked for {soda} of decision {decision}" in clicked.stdout
    again = json.loads((await admin("outcome", decision, soda, "impression", "-o", "json")).stdout)
    assert again == {"recorded": False}  # lighter than the click it already had

    split = await admin("profile", "unmerge", ref, "-i", f"cookie_id:{cookie}")
    assert "new profile" in split.stdout
    forgot = await admin("profile", "forget", ref, "--yes")
    assert "forgot profile" in forgot.stdout
    gone = await admin("profile", "get", ref, code=1)
    assert gone.output.startswith("error: NOT_FOUND")


async def test_errors_are_one_line_with_a_non_zero_exit(
    services: Services, a: Partner, tmp_path: Path
) -> None:
    admin = runner(services, a.admin)
    missing = await admin("decide", "email:nobody@example.com", "--placement", "p", code=1)
    assert missing.output.count("\n") == 1 and missing.output.startswith("error: NOT_FOUND")
    bad = await admin("decide", "email:x@example.com", "--placement", " ", code=1)
    assert bad.output.startswith("error: INVALID_ARGUMENT") and "placement" in bad.output
    unnamed = await admin("offer", "publish", "drinks", code=2)
    assert "placement/<id> or action/<id>" in unnamed.output
    absent = await admin("audience", "apply", str(tmp_path / "nope.yaml"), code=2)
    assert absent.output.startswith("error: ") and "nope.yaml" in absent.output
    context = await admin("decide", "email:x@example.com", "-p", "p", "--context", "[", code=2)
    assert "--context is not JSON" in context.output
    unknown = await admin("outcome", "d-nope", "a", "converted", code=1)
    assert unknown.output.startswith("error: NOT_FOUND")
    odd = await admin("outcome", "d", "a", "bought", code=2)
    assert "bought" in odd.output and "Traceback" not in odd.output
    naive = await admin("outcome", "d", "a", "clicked", "--at", "2026-03-01T12:00", code=2)
    assert "--at needs a time zone" in naive.output
    viewer = runner(services, None)
    anonymous = await viewer("model", "list", code=2)
    assert "LAYERCAKE_API_KEY is not set" in anonymous.output


def test_shell_completion_installs(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SHELL": "/bin/bash"}
    shown = CliRunner().invoke(app, ["--show-completion"], env=env, prog_name="layercake")
    assert shown.exit_code == 0 and "_layercake_completion" in shown.output
    installed = CliRunner().invoke(app, ["--install-completion"], env=env, prog_name="layercake")
    assert installed.exit_code == 0, installed.output
    assert "layercake" in (tmp_path / ".bashrc").read_text()
