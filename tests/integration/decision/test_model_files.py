"""Model bytes in the store (the default) or, with LAYERCAKE_DECISION_MODEL_DIR, in
`<dir>/<tenant>/<sha256>.onnx`, the store keeping the path and checksum: a file missing or
altered makes its version unavailable with a clear error, and the serving model serves on."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from nats.aio.client import Client
from sqlalchemy import select

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decision_service_pb2_grpc as pb_grpc
from services.decision import training
from services.decision.bootstrap import PROJECTIONS
from services.decision.store.model_files import configured_model_dir
from services.decision.store.tables import model_versions
from services.decision.store.unit_of_work import decision_unit_of_work
from services.kernel.clock import SystemClock
from services.kernel.errors import FailedPrecondition
from services.kernel.principals import Principal
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.decision.model_replicas import (
    STAGE,
    People,
    Replica,
    acting,
    promote,
    register,
    replica,
    replicas,
)
from tests.integration.decision.test_unit_of_work_contract import model

FEATURES = training.FEATURES
SHIPPED = training.DEFAULT_PATH.read_bytes()
SHA = hashlib.sha256(SHIPPED).hexdigest()
OTHER = training.train_onnx(zipmap=False)


def test_the_directory_is_the_environment_variables_and_unset_is_the_store() -> None:
    assert configured_model_dir({}) is None
    assert configured_model_dir({"LAYERCAKE_DECISION_MODEL_DIR": ""}) is None
    assert configured_model_dir({"LAYERCAKE_DECISION_MODEL_DIR": "/srv/models"}) == Path(
        "/srv/models"
    )


def _row(db: Database, tenant: str, version: str) -> tuple[bytes | None, str, str]:
    c = model_versions.c
    with db.transaction() as session:
        row = session.execute(
            select(c.content, c.path, c.sha256).where(c.tenant_id == tenant, c.version == version)
        ).one()
    return row.content, row.path, row.sha256


async def score(
    stub: pb_grpc.DecisionServiceStub, who: Principal, name: str = "propensity"
) -> pb.ScoreProfileResponse:
    response: pb.ScoreProfileResponse = await stub.ScoreProfile(
        pb.ScoreProfileRequest(
            model_name=name, profile_id="p-1", features={"trait_orders_30d": 3.0}
        ),
        metadata=acting(who),
        timeout=10,
    )
    return response


def _write(path: str, content: bytes) -> None:
    Path(path).write_bytes(content)


def _alter(path: str) -> None:
    """One byte of the file changed, its name (the registered checksum) kept."""
    _write(path, OTHER[:-1] + b"\0")


@pytest.fixture
async def stored(service_db: Database, nats_client: Client) -> AsyncIterator[Replica]:
    async with replicas(service_db, nats_client, 1) as (replica,):
        yield replica


@pytest.fixture
async def filed(
    service_db: Database, nats_client: Client, tmp_path: Path
) -> AsyncIterator[Replica]:
    async with replicas(service_db, nats_client, 1, model_dir=tmp_path / "models") as (replica,):
        yield replica


async def test_without_a_directory_the_store_keeps_the_bytes(
    stored: Replica, service_db: Database
) -> None:
    people = People(random_id("t-"))
    await register(stored.stub, people.ann, "propensity", "v1", SHIPPED, FEATURES)
    assert _row(service_db, people.ann.tenant_id, "v1") == (SHIPPED, "", SHA)
    await promote(stored.stub, people, "propensity", "v1", STAGE.MODEL_STAGE_CHAMPION)
    assert (await score(stored.stub, people.ann)).served.version == "v1"


async def test_with_a_directory_the_bytes_are_a_checked_file(
    filed: Replica, service_db: Database, nats_client: Client, tmp_path: Path
) -> None:
    people = People(random_id("t-"))
    tenant = people.ann.tenant_id
    await register(filed.stub, people.ann, "propensity", "v1", SHIPPED, FEATURES)
    content, path, sha = _row(service_db, tenant, "v1")
    file = tmp_path / "models" / tenant / f"{SHA}.onnx"
    assert (content, path, sha) == (None, str(file), SHA)
    assert file.read_bytes() == SHIPPED
    assert [p.name for p in file.parent.iterdir()] == [file.name]  # no temporary file left
    await promote(filed.stub, people, "propensity", "v1", STAGE.MODEL_STAGE_CHAMPION)
    assert (await score(filed.stub, people.ann)).served.version == "v1"

    # v2's file altered after registration: its promotion is refused, v1 serves on
    await register(filed.stub, people.ann, "propensity", "v2", OTHER, FEATURES)
    _, v2_path, _ = _row(service_db, tenant, "v2")
    _alter(v2_path)
    with pytest.raises(grpc.aio.AioRpcError) as altered:
        await promote(filed.stub, people, "propensity", "v2", STAGE.MODEL_STAGE_CHAMPION)
    assert altered.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = altered.value.details() or ""
    assert "'propensity' version 'v2' is unavailable" in details and "altered" in details
    assert (await score(filed.stub, people.ann)).served.version == "v1"
    # the refused publish left nothing live: a replica starting now serves v1 too
    async with replica(service_db, nats_client, model_dir=tmp_path / "models") as late:
        assert (await score(late.stub, people.ann)).served.version == "v1"

    # the file restored, the approved change publishes; altered once live (a disk fault),
    # its version is unavailable to a replica starting later, never served from other bytes
    _write(v2_path, OTHER)
    await filed.stub.PublishModelChange(
        pb.PublishModelChangeRequest(
            request_id=str(uuid.uuid4()), tenant_id=tenant, model_name="propensity"
        ),
        metadata=acting(people.ops),
    )
    assert (await score(filed.stub, people.ann)).served.version == "v2"
    await register(filed.stub, people.ann, "churn", "v1", SHIPPED, FEATURES)
    await promote(filed.stub, people, "churn", "v1", STAGE.MODEL_STAGE_CHAMPION)
    _alter(v2_path)

    # a replica starting now loads every deployment it can: churn serves, propensity
    # (its champion's file altered) is unavailable, never served from other bytes
    async with replica(service_db, nats_client, model_dir=tmp_path / "models") as late:
        assert (await score(late.stub, people.ann, "churn")).served.version == "v1"
        with pytest.raises(grpc.aio.AioRpcError) as unavailable:
            await score(late.stub, people.ann)
        assert unavailable.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_missing_or_altered_file_is_unavailable_not_served(
    service_db: Database, tmp_path: Path
) -> None:
    units = UnitOfWorkFactory(
        service_db.sessions,
        SystemClock(),
        PROJECTIONS,
        kind=decision_unit_of_work(tmp_path / "models"),
    )
    tenant = random_id("t-")
    with units() as uow:
        uow.models.add(model(tenant_id=tenant, sha=SHA), SHIPPED, uow.now())
        uow.commit()
    file = tmp_path / "models" / tenant / f"{SHA}.onnx"
    with units() as uow:
        assert uow.models.content(tenant, "propensity", "1") == SHIPPED
    file.write_bytes(SHIPPED + b"\0")
    with units() as uow, pytest.raises(FailedPrecondition, match="was altered"):
        uow.models.content(tenant, "propensity", "1")
    file.unlink()
    with units() as uow, pytest.raises(FailedPrecondition, match="cannot be read"):
        uow.models.content(tenant, "propensity", "1")
