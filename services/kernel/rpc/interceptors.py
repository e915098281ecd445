"""Cross-cutting concerns of every gRPC server: errors, deadlines, metrics, traces, logs."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from services.kernel import errors, telemetry
from services.kernel.rpc import calls
from services.kernel.rpc.signing import InternalCalls
from services.kernel.rpc.status import internal_status, to_status

log = logging.getLogger(__name__)

RPCS = Counter("layercake_rpc_total", "RPCs served", ["method", "code"])
LATENCY = Histogram(
    "layercake_rpc_seconds",
    "RPC latency",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

OPEN_METHODS = ("/grpc.health", "/grpc.reflection")


@functools.cache
def _counted(method: str, code: str) -> Any:
    """The RPC counter's child for (method, code): a label lookup costs more than the count."""
    return RPCS.labels(method, code)


Unary = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
Deserializer = Callable[[bytes], Any]


@dataclass(frozen=True)
class Undecodable:
    """Stands in for a request the deserializer could not read.

    grpc decodes outside every interceptor and answers a failure with UNKNOWN and a
    logged traceback; handing this on instead lets the interceptor refuse it cleanly.
    """

    message_type: str
    error: str


@functools.lru_cache(maxsize=1024)
def tolerant(deserializer: Deserializer | None) -> Deserializer | None:
    """`deserializer`, returning `Undecodable` instead of raising (bad wire format,
    invalid UTF-8 in a string, nesting deeper than protobuf's recursion limit)."""
    if deserializer is None:
        return None
    owner = getattr(deserializer, "__self__", None)  # `Message.FromString` of the request type
    descriptor = getattr(owner, "DESCRIPTOR", None)
    message_type = str(getattr(descriptor, "full_name", "protobuf message"))

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as e:  # whatever the parser raises, the caller sent bad bytes
            return Undecodable(message_type, type(e).__name__)

    return decode


async def refuse_undecodable(
    request: Undecodable, method: str, context: grpc.aio.ServicerContext[Any, Any]
) -> None:
    """INVALID_ARGUMENT and one log line; never a traceback, never the exception's class."""
    log.info("undecodable request", extra={"method": method, "error": request.error})
    status = to_status(
        errors.InvalidArgument.field(
            "", f"the request is not a valid {request.message_type} in protobuf binary form"
        )
    )
    await context.abort(status.code, status.details, status.trailing_metadata)


def _refusing_undecodable(inner: Unary) -> Unary:
    """A client-streaming handler whose request stream raises InvalidArgument at the first
    message that could not be decoded, so the handler stops and the caller hears why."""

    async def checked(requests: AsyncIterator[Any], context: Any) -> Any:
        async def decoded() -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, Undecodable):
                    raise errors.InvalidArgument.field(
                        "", f"a message is not a valid {request.message_type} in protobuf form"
                    )
                yield request

        return await inner(decoded(), context)

    return checked


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Turns domain errors into statuses (never a traceback), bounds every call's time,
    checks the gateway's signature on an internal service, and opens the `calls.Call`
    its handler and outgoing calls see."""

    def __init__(self, default_timeout: float, internal: InternalCalls | None = None) -> None:
        self.default_timeout = default_timeout
        self.internal = internal

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return handler
        if handler.stream_unary is None and handler.unary_unary is None:
            return self._signed_or_refused(details, handler)  # server streaming: health, ...
        return self._wrapped(details.method, handler)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 (one interceptor per server, kept with it)
    def _wrapped(self, method: str, handler: Any) -> Any:
        """The guarded handler of one method's handler: built once, not per call (the
        caller's metadata is read from the call's context)."""
        if handler.stream_unary is not None:  # an upload: guarded as a unary call is
            return grpc.stream_unary_rpc_method_handler(
                self._guarded(method, _refusing_undecodable(handler.stream_unary)),
                request_deserializer=tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        inner: Unary = handler.unary_unary
        if method.startswith(OPEN_METHODS):
            guarded = self._decoded_only(method, inner)
        else:
            guarded = self._guarded(method, inner)
        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def _signed_or_refused(self, details: grpc.HandlerCallDetails, handler: Any) -> Any:
        """A streaming handler is not guarded like a unary one, but an internal service still
        refuses it unsigned, so a streaming RPC added later is never an open door."""
        if self.internal is None or details.method.startswith(OPEN_METHODS):
            return handler
        metadata = {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}
        try:
            self.internal.verify(metadata, details.method)
        except errors.Unauthenticated as e:
            message = str(e)

            async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

            make = (
                grpc.stream_stream_rpc_method_handler
                if handler.stream_stream is not None
                else grpc.unary_stream_rpc_method_handler
            )
            return make(refuse)
        return handler

    @staticmethod
    def _decoded_only(method: str, inner: Unary) -> Unary:
        async def open_call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if isinstance(request, Undecodable):
                return await refuse_undecodable(request, method, context)
            return await inner(request, context)

        return open_call

    def _guarded(self, method: str, inner: Unary) -> Unary:
        latency = LATENCY.labels(method)  # the metric's child found once, not per call

        async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            sent = context.invocation_metadata() or ()
            metadata = {k: v for k, v in sent if isinstance(v, str)}
            code = "OK"
            remaining = context.time_remaining()
            timeout = (
                self.default_timeout if remaining is None else min(remaining, self.default_timeout)
            )
            deadline = time.monotonic() + timeout
            try:
                if isinstance(request, Undecodable):
                    code = "INVALID_ARGUMENT"
                    return await refuse_undecodable(request, method, context)
                principal = self.internal.verify(metadata, method) if self.internal else None
                call = calls.Call(method, deadline, principal)
                # in this task (no task per call, as wait_for would make)
                with telemetry.span(method, metadata), calls.serving(call):
                    async with asyncio.timeout(timeout):
                        return await inner(request, context)
            except errors.LayercakeError as e:
                status = to_status(e)
                code = status.code.name
                log.info("rpc refused", extra={"method": method, "code": code, "error": str(e)})
                await context.abort(status.code, status.details, status.trailing_metadata)
            except TimeoutError:
                code = "DEADLINE_EXCEEDED"
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
            except grpc.aio.AbortError:
                if code == "OK":
                    code = "ABORTED_BY_HANDLER"
                raise
            except Exception:
                code = "INTERNAL"
                log.exception("rpc failed", extra={"method": method})
                status = internal_status()
                await context.abort(status.code, status.details, status.trailing_metadata)
            finally:
                _counted(method, code).inc()
                latency.observe(time.perf_counter() - started)

        return guarded
