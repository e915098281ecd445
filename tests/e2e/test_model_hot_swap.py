"""Two decision processes on one database and NATS: a model registered, promoted with
approval, and hot-swapped to a new champion while decisions are in flight on both; no
request fails, and each answer names the model version it used. Calls are signed as the
gateway signs them, straight to each process (the gateway forwards no Decide yet)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterator

import grpc
import pytest

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decision_service_pb2_grpc as pb_grpc
from layercake.decision.v1 import models_pb2
from services.decision import training
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.rpc.signing import InternalCalls, SigningInterceptor
from services.local.stack import LocalStack, Ports
from tests.integration.decision.catalogs import DRINKS_YAML, LIVE, items
from tests.integration.decision.model_replicas import upload_messages
from tests.polling import eventually

pytestmark = pytest.mark.e2e

TENANT = "swap"
STAGE = models_pb2.ModelStage
DRINKS = training.DRINKS_PATH.read_bytes()
REGISTER = "/layercake.decision.v1.DecisionService/RegisterModel"
PEOPLE = {Role.EDITOR: "ann", Role.APPROVER: "cat", Role.OPERATOR: "ops", Role.VIEWER: "vic"}


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """nats-server and two decision processes (`decision`, `decision-2`) on one database."""
    stack = LocalStack(tmp_path_factory.mktemp("swap"), Ports.free(), replicas={"decision": 2})
    try:
        stack.start_nats()
        for process in ("decision", "decision-2"):
            stack.start_service(process)
        yield stack
    finally:
        stack.stop()


def person(role: Role) -> Principal:
    return Principal(TENANT, Actor(PEOPLE[role], PrincipalKind.PERSON), frozenset({role}))


def stub(
    stack: LocalStack, role: Role, process: str = "decision"
) -> tuple[grpc.aio.Channel, pb_grpc.DecisionServiceStub]:
    """Calls to `process`, signed as the gateway signs them for a person of the tenant
    holding `role`."""
    internal = InternalCalls(stack.internal_secret().encode())
    channel = grpc.aio.insecure_channel(
        stack.addr(process),
        interceptors=[SigningInterceptor(internal, lambda _request: person(role))],
    )
    return channel, pb_grpc.DecisionServiceStub(channel)


async def promote(stubs: dict[Role, pb_grpc.DecisionServiceStub], version: str) -> None:
    """Proposed by an editor, approved by an approver, published by an operator."""
    await stubs[Role.EDITOR].PromoteModel(
        pb.PromoteModelRequest(
            request_id=str(uuid.uuid4()),
            model_name="drinks",
            version=version,
            stage=STAGE.MODEL_STAGE_CHAMPION,
            reason="offline AUC up",
        ),
        timeout=10,
    )
    await stubs[Role.APPROVER].ApproveModelChange(
        pb.ApproveModelChangeRequest(
            request_id=str(uuid.uuid4()), model_name="drinks", reason="checked"
        ),
        timeout=10,
    )
    await stubs[Role.OPERATOR].PublishModelChange(
        pb.PublishModelChangeRequest(request_id=str(uuid.uuid4()), model_name="drinks"),
        timeout=10,
    )


async def register(stack: LocalStack, editor: pb_grpc.DecisionServiceStub, version: str) -> None:
    """A streamed upload (the signing interceptor stamps unary calls: stamped here)."""
    upload = pb.ModelUpload(
        request_id=str(uuid.uuid4()),
        model_name="drinks",
        version=version,
        feature_names=list(training.drinks_placement().features.columns),
        sha256=hashlib.sha256(DRINKS).hexdigest(),
    )
    upload.metadata.owner = "ann"
    internal = InternalCalls(stack.internal_secret().encode())
    stamp = internal.stamp(person(Role.EDITOR), REGISTER)
    await editor.RegisterModel(
        upload_messages(upload, DRINKS, chunk=64_000), metadata=tuple(stamp), timeout=20
    )


async def publish_catalog(stubs: dict[Role, pb_grpc.DecisionServiceStub]) -> None:
    await stubs[Role.EDITOR].ApplyCatalog(
        pb.ApplyCatalogRequest(request_id=str(uuid.uuid4()), yaml=DRINKS_YAML), timeout=10
    )
    roles = (Role.EDITOR, Role.APPROVER, Role.OPERATOR)
    for kind, asset_id in items():
        for role, action in zip(roles, LIVE, strict=True):
            await stubs[role].TransitionCatalogAsset(
                pb.TransitionCatalogAssetRequest(
                    request_id=str(uuid.uuid4()), kind=kind, asset_id=asset_id, action=action.value
                ),
                timeout=10,
            )


def decide_request(profile: str) -> pb.DecideRequest:
    request = pb.DecideRequest(
        request_id=str(uuid.uuid4()), profile_id=profile, placement="drinks", max_actions=2
    )
    request.context.update(
        {
            "channel": "kiosk",
            "weather": {"temperature_c": 30.0},
            "location": {"region": "coast"},
            "stock": {"water": 9, "diet_soda": 9},
        }
    )
    return request


async def test_hot_swap_while_two_decision_processes_decide(
    two: LocalStack,
) -> None:
    opened = [stub(two, role, p) for p in ("decision", "decision-2") for role in PEOPLE]
    try:
        on_a = {role: s for (_, s), role in zip(opened[: len(PEOPLE)], PEOPLE, strict=True)}
        roles = [*PEOPLE] * 2
        deciders = [s for (_, s), role in zip(opened, roles, strict=True) if role == Role.VIEWER]
        await publish_catalog(on_a)
        await register(two, on_a[Role.EDITOR], "1")
        await register(two, on_a[Role.EDITOR], "2")
        await promote(on_a, "1")

        def both_serve(version: str) -> Callable[[], Awaitable[bool]]:
            async def probe() -> bool:
                asked = [await d.Decide(decide_request("p-probe"), timeout=5) for d in deciders]
                return all(r.model_version == version and not r.fallback for r in asked)

            return probe

        await eventually(both_serve("1"), timeout=30, interval=0.1)
        answers: list[tuple[bool, str]] = []  # (asked after both swapped, version it names)
        swapped = asyncio.Event()

        async def keep_deciding(decider: pb_grpc.DecisionServiceStub, worker: int) -> None:
            n = late = 0
            while late < 5:  # bounded: five calls after both processes swapped
                after = swapped.is_set()
                answer = await decider.Decide(decide_request(f"p-{worker}-{n % 7}"), timeout=10)
                assert answer.model_name == "drinks" and not answer.fallback
                assert [a.action_id for a in answer.actions]  # decided, not empty
                answers.append((after, answer.model_version))
                n += 1
                late += after

        load = [asyncio.create_task(keep_deciding(d, i)) for i, d in enumerate([*deciders] * 2)]

        async def in_flight() -> bool:  # on both before the promotion: each worker answered
            return len(answers) >= 2 * len(load)

        await eventually(in_flight, timeout=30, interval=0.02)
        await promote(on_a, "2")
        await eventually(both_serve("2"), timeout=30, interval=0.1)
        swapped.set()
        await asyncio.gather(*load)  # a failed call raises here
        assert {version for _, version in answers} == {"1", "2"}
        assert {version for after, version in answers if after} == {"2"}
    finally:
        for channel, _ in opened:
            await channel.close()
