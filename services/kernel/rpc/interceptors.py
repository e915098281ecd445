"""Cross-cutting concerns of every gRPC server: errors, deadlines, metrics, traces, logs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from services.kernel import errors, telemetry
from services.kernel.rpc.status import internal_status, to_status

log = logging.getLogger(__name__)

RPCS = Counter("layercake_rpc_total", "RPCs served", ["method", "code"])
LATENCY = Histogram(
    "layercake_rpc_seconds",
    "RPC latency",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

Unary = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Turns domain errors into statuses (never a traceback), bounds every call's time."""

    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = details.method
        if method.startswith(("/grpc.health", "/grpc.reflection")):
            return handler
        inner: Unary = handler.unary_unary
        metadata = {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}

        async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            code = "OK"
            remaining = context.time_remaining()
            timeout = (
                self.default_timeout if remaining is None else min(remaining, self.default_timeout)
            )
            try:
                with telemetry.span(method, metadata):
                    return await asyncio.wait_for(inner(request, context), timeout)
            except errors.LayercakeError as e:
                status = to_status(e)
                code = status.code.name
                log.info("rpc refused", extra={"method": method, "code": code, "error": str(e)})
                await context.abort(status.code, status.details, status.trailing_metadata)
            except TimeoutError:
                code = "DEADLINE_EXCEEDED"
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
            except grpc.aio.AbortError:
                code = "ABORTED_BY_HANDLER"
                raise
            except Exception:
                code = "INTERNAL"
                log.exception("rpc failed", extra={"method": method})
                status = internal_status()
                await context.abort(status.code, status.details, status.trailing_metadata)
            finally:
                RPCS.labels(method, code).inc()
                LATENCY.labels(method).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
