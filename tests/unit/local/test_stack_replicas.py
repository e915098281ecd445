"""LocalStack starts more than one process of a service: each on its own ports, all on the
service's one database, the other services calling the first."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.local.stack import LocalStack, Ports

PG = "postgresql://postgres@127.0.0.1:5432/test"


def test_a_replica_runs_the_service_on_its_own_ports_and_the_same_database(
    tmp_path: Path,
) -> None:
    given = {"LAYERCAKE_ORCHESTRATOR_DATABASE_URL": PG}
    stack = LocalStack(tmp_path, Ports.free(), extra_env=given, replicas={"orchestrator": 3})
    assert list(stack.replica_processes) == ["orchestrator-2", "orchestrator-3"]
    assert stack.command("orchestrator-3") == ["-m", "services.orchestrator"]
    first, second, third = (stack.env(p) for p in ("orchestrator", *stack.replica_processes))
    listens = {e["LAYERCAKE_ORCHESTRATOR_ADDR"] for e in (first, second, third)}
    metrics = {e["LAYERCAKE_ORCHESTRATOR_METRICS_PORT"] for e in (first, second, third)}
    assert len(listens) == len(metrics) == 3  # no two bind one port
    assert second["LAYERCAKE_ORCHESTRATOR_ADDR"] == stack.addr("orchestrator-2")
    assert {e["LAYERCAKE_ORCHESTRATOR_DATABASE_URL"] for e in (first, second, third)} == {PG}
    for peer in ("gateway", "identity", "decision"):  # peers call the first process
        assert stack.env(peer)["LAYERCAKE_ORCHESTRATOR_ADDR"] == stack.addr("orchestrator")
    assert second["LAYERCAKE_GATEWAY_HTTP_ADDR"] == first["LAYERCAKE_GATEWAY_HTTP_ADDR"]


def test_a_gateway_replica_opens_its_own_http_door(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, Ports.free(), replicas={"gateway": 2})
    doors = {stack.env(p)["LAYERCAKE_GATEWAY_HTTP_ADDR"] for p in ("gateway", "gateway-2")}
    assert len(doors) == 2


def test_one_process_per_service_unless_asked_and_only_of_a_service(tmp_path: Path) -> None:
    assert LocalStack(tmp_path).replica_processes == {}
    assert LocalStack(tmp_path, replicas={"decision": 1}).replica_processes == {}
    with pytest.raises(ValueError, match="'smtp-sink' is not one of"):
        LocalStack(tmp_path, replicas={"smtp-sink": 2})
