"""`layercake status` and StatusService: the gateway and everything behind it answering,
or a stopped peer named as down, while the calls forwarded to it fail fast (UNAVAILABLE)."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from layercake.gateway.v1 import journeys_service_pb2 as jpb
from layercake.gateway.v1 import journeys_service_pb2_grpc as jgrpc
from layercake.gateway.v1 import status_service_pb2 as pb
from services.gateway.bootstrap import build as build_gateway
from services.kernel.messaging.nats_server import NatsServer, free_port
from tests.conftest import random_id
from tests.integration.conftest import Services
from tests.integration.gateway.conftest import new_key
from tests.integration.gateway.team import team
from tests.integration.gateway.test_journeys_cli import cli, run_cli
from tests.integration.harness import running

PARTS = ["gateway", "nats", "identity", "orchestrator", "decision"]


async def test_every_part_serving_as_a_table_and_as_json(services: Services) -> None:
    async with team(services) as t:
        reply = await t.status.GetStatus(pb.GetStatusRequest(), metadata=t.auth("vic"), timeout=10)
        assert [(c.name, c.serving) for c in reply.components] == [(p, True) for p in PARTS]
        shown = await cli(t, "vic", "status", "-o", "json")
        assert shown.exit_code == 0, shown.output
        parts = json.loads(shown.stdout)["components"]
        assert [(c["name"], c["serving"]) for c in parts] == [(p, True) for p in PARTS]
        table = await cli(t, "vic", "status")
        assert table.exit_code == 0 and "orchestrator" in table.stdout
        keyless = await cli(t, None, "status", "-o", "json")
        assert keyless.exit_code == 0, keyless.output
        assert [c["name"] for c in json.loads(keyless.stdout)["components"]] == ["gateway"]
        assert "set LAYERCAKE_API_KEY" in keyless.output


async def test_stopped_peers_are_named_and_forwarding_fails_fast(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nowhere = {
        f"LAYERCAKE_{name.upper()}_ADDR": f"127.0.0.1:{free_port()}"
        for name in ("identity", "orchestrator", "decision")
    }
    env = nowhere | {"LAYERCAKE_RPC_TIMEOUT": "1"}
    async with running("gateway", build_gateway, nats_server.url, tmp_path, env) as gateway:
        assert gateway.context is not None and gateway.server is not None
        addr = f"127.0.0.1:{gateway.server.port}"
        key = new_key(gateway.context.uow, random_id("t"))
        down = await run_cli(addr, key, "status", "-o", "json")
        assert down.exit_code == 1, down.output
        parts = {c["name"]: c for c in json.loads(down.stdout)["components"]}
        assert [n for n in PARTS if parts[n]["serving"]] == ["gateway", "nats"]
        assert parts["orchestrator"]["detail"].startswith(nowhere["LAYERCAKE_ORCHESTRATOR_ADDR"])
        async with grpc.aio.insecure_channel(addr) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as unavailable:
                await jgrpc.JourneysServiceStub(channel).ListJourneys(
                    jpb.ListJourneysRequest(),
                    metadata=(("authorization", f"Bearer {key}"),),
                    timeout=10,
                )
            # UNAVAILABLE, not the caller's DEADLINE_EXCEEDED: the gateway gave up on its own
            assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
