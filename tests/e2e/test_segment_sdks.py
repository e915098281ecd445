"""Segment's official SDKs, pointed at the gateway's HTTP door, land events as profiles:
`segment-analytics-python` and `@segment/analytics-node`, against every service and
nats-server as real processes."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from tests.conftest import random_id
from tests.e2e.conftest import Platform
from tests.polling import eventually

pytestmark = pytest.mark.e2e

ANALYTICS_NODE = "3.1.0"  # @segment/analytics-node, installed at test time
NODE_CLIENT = Path(__file__).with_name("segment_node_client.js")
NPM_CACHE = Path(__file__).resolve().parents[2] / ".layercake" / "npm"


def door(platform: Platform) -> str:
    return f"http://127.0.0.1:{platform.stack.ports.http}"


async def profile(platform: Platform, ref: str) -> dict[str, Any] | None:
    """The profile the door answers for `ref`, once identity has it."""
    basic = base64.b64encode(f"{platform.api_key}:".encode()).decode()
    url = f"{door(platform)}/v1/profiles/{ref}"
    headers = {"Authorization": f"Basic {basic}"}
    async with aiohttp.ClientSession(headers=headers) as session, session.get(url) as response:
        if response.status == 404:
            return None
        assert response.status == 200, await response.text()
        found: dict[str, Any] = (await response.json())["profile"]
        return found


async def one_profile(platform: Platform, *refs: str) -> str | None:
    """The profile id all of `refs` resolve to, once they resolve to one."""
    found = [await profile(platform, ref) for ref in refs]
    ids = {f["profile_id"] if f else None for f in found}
    return ids.pop() if len(ids) == 1 else None


async def test_the_python_sdks_events_land_as_one_profile(platform: Platform) -> None:
    anonymous, user = random_id("anon-"), random_id("user-")
    email = f"{random_id('ann')}@example.com"
    failures: list[Exception] = []
    client = Client(
        platform.api_key,
        host=door(platform),
        gzip=True,
        on_error=lambda e, batch: failures.append(e),
        max_retries=1,
    )
    client.identify(anonymous_id=anonymous, traits={"email": email, "first_name": "Ann"})
    client.track(
        user_id=user, anonymous_id=anonymous, event="Order Completed", properties={"total": 42}
    )
    await asyncio.to_thread(client.shutdown)
    assert failures == []

    refs = (f"email:{email}", f"anonymous_id:{anonymous}", f"user_id:{user}")
    profile_id = await eventually(lambda: one_profile(platform, *refs), timeout=30)
    found = await profile(platform, profile_id)
    assert found is not None and found["traits"]["first_name"]


async def test_the_python_sdk_reads_a_refusal_naming_the_field(platform: Platform) -> None:
    client = Client(platform.api_key, host=door(platform), sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as refused:
        await asyncio.to_thread(client.track, anonymous_id=random_id("anon-"), event="x" * 300)
    assert refused.value.status == 400 and refused.value.code == "invalid_request"
    assert refused.value.message.startswith("batch[0].event:")
    wrong = Client("lc_nosuchkey1_secret", host=door(platform), sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as unknown:
        await asyncio.to_thread(wrong.track, user_id="u", event="E")
    assert unknown.value.status == 401


def analytics_node() -> Path:
    """`@segment/analytics-node` installed (once per version) under `.layercake/npm`."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: @segment/analytics-node cannot be fetched")
    prefix = NPM_CACHE / f"analytics-node-{ANALYTICS_NODE}"
    if not (prefix / "node_modules" / "@segment" / "analytics-node").exists():
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--no-save",
                f"@segment/analytics-node@{ANALYTICS_NODE}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return prefix / "node_modules"


async def test_the_node_sdks_events_land_as_one_profile(platform: Platform) -> None:
    modules = analytics_node()
    anonymous, user = random_id("anon-"), random_id("user-")
    email = f"{random_id('bob')}@example.com"
    env = os.environ | {
        "NODE_PATH": str(modules),
        "WRITE_KEY": platform.api_key,
        "HOST": door(platform),
        "ANONYMOUS_ID": anonymous,
        "USER_ID": user,
        "EMAIL": email,
    }
    sent = await asyncio.to_thread(
        subprocess.run,
        ["node", str(NODE_CLIENT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "sent"

    refs = (f"anonymous_id:{anonymous}", f"email:{email}", f"user_id:{user}")
    await eventually(lambda: one_profile(platform, *refs), timeout=30)
