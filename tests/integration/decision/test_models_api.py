"""The model registry and serving through gRPC: register (streamed), promote with approval,
score; bad models refused with the champion untouched; a hot swap under load on two replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from nats.aio.client import Client

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decision_service_pb2_grpc as pb_grpc
from services.decision import training
from services.kernel.principals import Principal, Role
from services.kernel.store.database import Database
from tests.conftest import random_id
from tests.integration.decision.model_replicas import (
    STAGE,
    People,
    Replica,
    acting,
    person,
    promote,
    register,
    replicas,
    upload_messages,
)
from tests.integration.harness import violations
from tests.polling import eventually

FEATURES = training.FEATURES
SHIPPED = training.DEFAULT_PATH.read_bytes()
TENSOR_MODEL = training.train_onnx(zipmap=False)  # another converter's shape of output


async def score(
    stub: pb_grpc.DecisionServiceStub, who: Principal, name: str, profile: str
) -> pb.ScoreProfileResponse:
    response: pb.ScoreProfileResponse = await stub.ScoreProfile(
        pb.ScoreProfileRequest(
            tenant_id=who.tenant_id,
            model_name=name,
            profile_id=profile,
            features={"trait_orders_30d": 3.0, "consent_email_marketing": 1.0},
        ),
        metadata=acting(who),
        timeout=10,
    )
    return response


@pytest.fixture
async def one(service_db: Database, nats_client: Client) -> AsyncIterator[Replica]:
    async with replicas(service_db, nats_client, 1) as (replica,):
        yield replica


async def test_register_promote_with_approval_and_score(one: Replica) -> None:
    people, name = People(random_id("t-")), "propensity"
    registered = (await register(one.stub, people.ann, name, "v1", SHIPPED, FEATURES)).model
    assert registered.size_bytes == len(SHIPPED) and len(registered.sha256) == 64
    assert [i.name for i in registered.inputs] == ["X"] and list(registered.inputs[0].shape) == [
        -1,
        4,
    ]
    assert registered.score_output == "output_probability"
    assert registered.metadata.labels["framework"] == "sklearn"

    with pytest.raises(grpc.aio.AioRpcError) as unserved:
        await score(one.stub, people.ann, name, "p-1")
    assert unserved.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    tenant = people.ann.tenant_id
    proposed = await one.stub.PromoteModel(
        pb.PromoteModelRequest(
            request_id=str(uuid.uuid4()),
            tenant_id=tenant,
            model_name=name,
            version="v1",
            stage=STAGE.MODEL_STAGE_CHAMPION,
        ),
        metadata=acting(people.ann),
    )
    assert proposed.change.state == "submitted"
    with pytest.raises(grpc.aio.AioRpcError) as own:  # four eyes: not the proposer
        await one.stub.ApproveModelChange(
            pb.ApproveModelChangeRequest(request_id=str(uuid.uuid4()), model_name=name),
            metadata=acting(person(tenant, "ann", Role.APPROVER)),
        )
    assert own.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as early:  # not approved yet
        await one.stub.PublishModelChange(
            pb.PublishModelChangeRequest(request_id=str(uuid.uuid4()), model_name=name),
            metadata=acting(people.ops),
        )
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError):
        await score(one.stub, people.ann, name, "p-1")  # still nothing live

    await promote(one.stub, people, name, "v1", STAGE.MODEL_STAGE_CHAMPION)
    answer = await score(one.stub, people.ann, name, "p-1")
    assert answer.served.version == "v1" and answer.served.stage == STAGE.MODEL_STAGE_CHAMPION
    assert 0.5 < answer.served.score < 1.0

    await register(one.stub, people.ann, name, "v2", TENSOR_MODEL, FEATURES)
    await register(one.stub, people.ann, name, "v3", SHIPPED, FEATURES)
    await promote(one.stub, people, name, "v2", STAGE.MODEL_STAGE_CHALLENGER, 0.3)
    await promote(one.stub, people, name, "v3", STAGE.MODEL_STAGE_SHADOW)
    served = []
    for n in range(200):
        answer = await score(one.stub, people.ann, name, f"p-{n}")
        stages = {s.version: s.stage for s in answer.scores}
        assert stages == {
            "v1": STAGE.MODEL_STAGE_CHAMPION,
            "v2": STAGE.MODEL_STAGE_CHALLENGER,
            "v3": STAGE.MODEL_STAGE_SHADOW,
        }
        assert answer.served.version in ("v1", "v2")  # a shadow is never acted on
        served.append(answer.served.version)
    assert 0.15 < served.count("v2") / len(served) < 0.45
    again = [(await score(one.stub, people.ann, name, f"p-{n}")).served.version for n in range(20)]
    assert again == served[:20]
    await register(one.stub, people.ann, "other", "v1", SHIPPED, FEATURES)
    assert await listed(one.stub, people.ann, name) == [
        ("propensity", "v1", STAGE.MODEL_STAGE_CHAMPION),
        ("propensity", "v2", STAGE.MODEL_STAGE_CHALLENGER),
        ("propensity", "v3", STAGE.MODEL_STAGE_SHADOW),
    ]
    every = await listed(one.stub, people.ann, "")
    assert every[0] == ("other", "v1", STAGE.MODEL_STAGE_REGISTERED) and len(every) == 4
    assert await listed(one.stub, People(random_id("t-")).ann, "") == []  # another tenant's


async def listed(
    stub: pb_grpc.DecisionServiceStub, who: Principal, name: str
) -> list[tuple[str, str, int]]:
    """Every version ListModels shows, two a page."""
    found: list[tuple[str, str, int]] = []
    token = ""
    while True:
        page = await stub.ListModels(
            pb.ListModelsRequest(model_name=name, page_size=2, page_token=token),
            metadata=acting(who),
            timeout=10,
        )
        found += [(m.model.model_name, m.model.version, m.stage) for m in page.models]
        assert len(page.models) <= 2
        token = page.next_page_token
        if not token:
            return found


async def test_bad_models_are_refused_and_the_champion_serves_on(one: Replica) -> None:
    people, name = People(random_id("t-")), "propensity"
    await register(one.stub, people.ann, name, "v1", SHIPPED, FEATURES)
    await promote(one.stub, people, name, "v1", STAGE.MODEL_STAGE_CHAMPION)

    with pytest.raises(grpc.aio.AioRpcError) as corrupt:
        await register(one.stub, people.ann, name, "v2", SHIPPED[:300], FEATURES)
    assert corrupt.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(corrupt.value) == ["model"]
    assert "not a loadable ONNX model" in (corrupt.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as mismatch:
        await register(one.stub, people.ann, name, "v2", SHIPPED, FEATURES[:3])
    assert mismatch.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(mismatch.value) == ["feature_names"]
    assert "3 features" in (mismatch.value.details() or "")

    upload = pb.ModelUpload(
        request_id=str(uuid.uuid4()),
        model_name=name,
        version="v2",
        feature_names=list(FEATURES),
        sha256="0" * 64,
    )
    with pytest.raises(grpc.aio.AioRpcError) as tampered:
        await one.stub.RegisterModel(upload_messages(upload, SHIPPED), metadata=acting(people.ann))
    assert violations(tampered.value) == ["sha256"]

    with pytest.raises(grpc.aio.AioRpcError) as unregistered:
        await one.stub.PromoteModel(
            pb.PromoteModelRequest(
                request_id=str(uuid.uuid4()),
                model_name=name,
                version="v2",
                stage=STAGE.MODEL_STAGE_CHAMPION,
            ),
            metadata=acting(people.ann),
        )
    assert unregistered.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as taken:  # a version names one file forever
        await register(one.stub, people.ann, name, "v1", TENSOR_MODEL, FEATURES)
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS

    answer = await score(one.stub, people.ann, name, "p-1")
    assert answer.served.version == "v1" and [s.version for s in answer.scores] == ["v1"]


async def test_a_stream_without_its_upload_first_is_refused(one: Replica) -> None:
    who = person(random_id("t-"), "ann", Role.EDITOR)
    chunks = iter([pb.RegisterModelRequest(chunk=SHIPPED)])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await one.stub.RegisterModel(chunks, metadata=acting(who))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(refused.value) == ["upload"]


async def test_hot_swap_under_load_on_two_replicas(
    service_db: Database, nats_client: Client
) -> None:
    people, name = People(random_id("t-")), "propensity"
    async with replicas(service_db, nats_client, 2) as (a, b):
        await register(a.stub, people.ann, name, "v1", SHIPPED, FEATURES)
        await register(a.stub, people.ann, name, "v2", TENSOR_MODEL, FEATURES)
        await promote(a.stub, people, name, "v1", STAGE.MODEL_STAGE_CHAMPION)
        await a.relay.flush()
        tenant = people.ann.tenant_id

        async def b_serves() -> bool:
            return b.serving.live(tenant, name) is not None

        await eventually(b_serves)

        answers: list[tuple[bool, str]] = []  # (started after both swapped, version served)
        swapped = asyncio.Event()

        async def keep_scoring(replica: Replica, worker: int) -> None:
            n = late_calls = 0
            while late_calls < 3:  # bounded: three calls after both replicas swapped
                late = swapped.is_set()
                answer = await score(replica.stub, people.ann, name, f"p-{worker}-{n}")
                answers.append((late, answer.served.version))
                n += 1
                late_calls += late

        load = [asyncio.create_task(keep_scoring(r, i)) for i, r in enumerate((a, b, a, b))]
        await promote(a.stub, people, name, "v2", STAGE.MODEL_STAGE_CHAMPION)
        await a.relay.flush()

        async def both_swapped() -> bool:
            return all(
                (live := r.serving.live(tenant, name)) is not None
                and live.deployment.champion == "v2"
                for r in (a, b)
            )

        await eventually(both_swapped)
        swapped.set()
        await asyncio.gather(*load)  # any failed call raises here
        assert {version for _, version in answers} == {"v1", "v2"}
        assert {version for late, version in answers if late} == {"v2"}
        after = await score(b.stub, people.ann, name, "p-after")
        assert after.served.version == "v2"
        assert [s.version for s in after.scores] == ["v2"]  # v1 retired, not scored
        assert a.serving.sessions(tenant, name) == b.serving.sessions(tenant, name) == {"v2"}


async def test_a_registration_retried_with_its_request_id_gets_the_first_answer(
    one: Replica,
) -> None:
    who = person(random_id("t-"), "ann", Role.EDITOR)
    upload = pb.ModelUpload(
        request_id=str(uuid.uuid4()),
        model_name="propensity",
        version="v1",
        feature_names=list(FEATURES),
    )
    first = await one.stub.RegisterModel(upload_messages(upload, SHIPPED), metadata=acting(who))
    again = await one.stub.RegisterModel(
        upload_messages(upload, SHIPPED, chunk=64), metadata=acting(who)
    )
    assert again == first
    with pytest.raises(grpc.aio.AioRpcError) as other_bytes:  # same id, another file
        await one.stub.RegisterModel(upload_messages(upload, TENSOR_MODEL), metadata=acting(who))
    assert violations(other_bytes.value) == ["request_id"]
