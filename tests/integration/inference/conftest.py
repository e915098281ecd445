"""The Open Inference Protocol's test stack (fixtures `stack`, `client`): the real decision
and gateway services, models registered through decision's `RegisterModel` and promoted
through the asset lifecycle (as the gateway forwards them), and a client generated from the
protocol's own `.proto` (`tests/open_inference`) on the gateway's port with an API key."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort
import pytest

from layercake.decision.v1 import decision_service_pb2 as dpb
from layercake.decision.v1 import decision_service_pb2_grpc as dgrpc
from layercake.decision.v1 import models_pb2
from services.decision import training
from services.decision.bootstrap import build as build_decision
from services.gateway.bootstrap import build as build_whole_gateway
from services.gateway.config import GatewayConfig
from services.kernel.config import ServiceSettings
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.rpc.signing import SigningInterceptor
from services.kernel.runtime import App, Runtime
from tests.integration.decision.model_replicas import upload_messages
from tests.integration.gateway.conftest import new_key
from tests.integration.harness import running
from tests.open_inference import generated
from tests.signing import INTERNAL

FEATURES = training.FEATURES
STAGE = models_pb2.ModelStage


def build_gateway(settings: ServiceSettings) -> App:
    """The gateway with its HTTP door on a free port, so tests run beside a `make run` (the
    door's address is the gateway's own config, which `running`'s settings do not reach)."""
    return build_whole_gateway(settings, GatewayConfig(http_addr="127.0.0.1:0"))


def onnx_answer(content: bytes, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs), strict=True))


@dataclass
class Stack:
    decision: Runtime
    gateway: Runtime
    exits: AsyncExitStack

    def addr(self, runtime: Runtime) -> str:
        assert runtime.server is not None
        return f"127.0.0.1:{runtime.server.port}"

    def key(self, tenant: str, *scopes: str) -> str:
        assert self.gateway.context is not None
        return new_key(self.gateway.context.uow, tenant, *scopes)

    async def as_person(self, tenant: str, name: str, role: Role) -> dgrpc.DecisionServiceStub:
        principal = Principal(tenant, Actor(name, PrincipalKind.PERSON), frozenset({role}))
        channel = grpc.aio.insecure_channel(
            self.addr(self.decision),
            interceptors=[SigningInterceptor(INTERNAL, lambda _: principal)],
        )
        self.exits.push_async_callback(channel.close, None)
        return dgrpc.DecisionServiceStub(channel)

    async def register(
        self,
        tenant: str,
        name: str,
        version: str,
        content: bytes,
        features: tuple[str, ...] = FEATURES,
    ) -> None:
        upload = dpb.ModelUpload(
            request_id=str(uuid.uuid4()),
            model_name=name,
            version=version,
            feature_names=list(features),
            sha256=hashlib.sha256(content).hexdigest(),
        )
        stub = await self.as_person(tenant, "ann", Role.EDITOR)
        ann = Principal(tenant, Actor("ann", PrincipalKind.PERSON), frozenset({Role.EDITOR}))
        signed = INTERNAL.stamp(ann, "/layercake.decision.v1.DecisionService/RegisterModel")
        await stub.RegisterModel(  # an upload stream: signed by hand (the interceptor is unary)
            upload_messages(upload, content, 64 * 1024), metadata=signed, timeout=30
        )

    async def promote(self, tenant: str, name: str, version: str) -> None:
        """Proposed by an editor, approved by an approver, published by an operator."""
        ann = await self.as_person(tenant, "ann", Role.EDITOR)
        cat = await self.as_person(tenant, "cat", Role.APPROVER)
        ops = await self.as_person(tenant, "ops", Role.OPERATOR)
        await ann.PromoteModel(
            dpb.PromoteModelRequest(
                request_id=str(uuid.uuid4()),
                model_name=name,
                version=version,
                stage=STAGE.MODEL_STAGE_CHAMPION,
            ),
            timeout=10,
        )
        await cat.ApproveModelChange(
            dpb.ApproveModelChangeRequest(request_id=str(uuid.uuid4()), model_name=name),
            timeout=10,
        )
        await ops.PublishModelChange(
            dpb.PublishModelChangeRequest(request_id=str(uuid.uuid4()), model_name=name),
            timeout=10,
        )


@pytest.fixture
async def stack(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Stack]:
    async with AsyncExitStack() as exits:
        decision = await exits.enter_async_context(
            running("decision", build_decision, nats_server.url, tmp_path)
        )
        assert decision.server is not None
        gateway = await exits.enter_async_context(
            running(
                "gateway",
                build_gateway,
                nats_server.url,
                tmp_path,
                {"LAYERCAKE_DECISION_ADDR": f"127.0.0.1:{decision.server.port}"},
            )
        )
        yield Stack(decision, gateway, exits)


@dataclass
class Client:
    """The protocol's generated stub on the gateway's port, with an API key."""

    pb: ModuleType
    stub: Any
    key: str

    def auth(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.key}"),)

    async def metadata(self, name: str, version: str = "") -> Any:
        request = self.pb.ModelMetadataRequest(name=name, version=version)
        return await self.stub.ModelMetadata(request, metadata=self.auth(), timeout=10)

    async def infer(self, request: Any) -> Any:
        return await self.stub.ModelInfer(request, metadata=self.auth(), timeout=10)

    def fp32(self, name: str, rows: np.ndarray) -> Any:
        tensor = self.pb.ModelInferRequest.InferInputTensor(
            name=name, datatype="FP32", shape=list(rows.shape)
        )
        tensor.contents.fp32_contents.extend(rows.reshape(-1).tolist())
        return tensor


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Any]:
    messages, stubs = generated()
    async with grpc.aio.insecure_channel(stack.addr(stack.gateway)) as channel:
        yield lambda key: Client(messages, stubs.GRPCInferenceServiceStub(channel), key)


def shapes(tensors: Any) -> list[tuple[str, str, list[int]]]:
    return [(t.name, t.datatype, list(t.shape)) for t in tensors]


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await call
    return refusal.value
