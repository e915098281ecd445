"""Waiting for a condition with a deadline, never a blind sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

T = TypeVar("T")

RETRIED: tuple[type[BaseException], ...] = (AssertionError, grpc.aio.AioRpcError)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Polls `probe` until it returns something truthy without raising an assertion or
    gRPC error; at the deadline the last error is raised, or the test fails."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await probe()
            if result:
                return result
        except RETRIED:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
