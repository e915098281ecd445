"""Every RPC the gateway serves, found through its reflection service (so a service added
later is covered without naming it), and a way to call any of them with any request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

INFRASTRUCTURE = ("grpc.health.", "grpc.reflection.")


@dataclass(frozen=True)
class Rpc:
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def name(self) -> str:
        return f"{self.method.containing_service.name}.{self.method.name}"

    def request(self, **fields: Any) -> Message:
        return message_factory.GetMessageClass(self.method.input_type)(**fields)

    def field_names(self) -> set[str]:
        return {f.name for f in self.method.input_type.fields}

    async def call(
        self, channel: grpc.aio.Channel, request: Message, key: str | None, timeout: float = 15
    ) -> Message:
        """One call (a stream of one message for a streaming RPC); raises AioRpcError."""
        metadata = () if key is None else (("authorization", f"Bearer {key}"),)
        output = message_factory.GetMessageClass(self.method.output_type)
        kind = (self.method.client_streaming, self.method.server_streaming)
        make = {
            (False, False): channel.unary_unary,
            (True, False): channel.stream_unary,
            (False, True): channel.unary_stream,
            (True, True): channel.stream_stream,
        }[kind]
        stub = make(
            self.path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=output.FromString,
        )
        sent: Any = iter([request]) if self.method.client_streaming else request
        answer = stub(sent, metadata=metadata, timeout=timeout)
        if self.method.server_streaming:
            async for first in answer:
                return first  # type: ignore[no-any-return]
            return output()
        return await answer  # type: ignore[no-any-return]


async def public_rpcs(channel: grpc.aio.Channel) -> list[Rpc]:
    """Every method of every service the server lists, health and reflection aside."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
    )
    names = [s.name async for r in replies for s in r.list_services_response.service]
    pool = descriptor_pool.Default()
    return [
        Rpc(method)
        for name in sorted(names)
        if not name.startswith(INFRASTRUCTURE)
        for method in pool.FindServiceByName(name).methods
    ]


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields a refusal's BadRequest names."""
    return [
        v.field for v in _details(error, error_details_pb2.BadRequest) for v in v.field_violations
    ]


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    found = _details(error, error_details_pb2.RetryInfo)
    return found[0].retry_delay.ToTimedelta().total_seconds() if found else None


def _details(error: grpc.aio.AioRpcError, kind: type[Any]) -> list[Any]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found = []
    for detail in status.details if status else []:
        item = kind()
        if detail.Unpack(item):
            found.append(item)
    return found


def top_field(path: str) -> str:
    """`events[3].identifiers.email` -> `events`."""
    return path.split(".")[0].split("[")[0]
