"""Connecting to NATS with reconnects, and naming the connection after the service."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client

log = logging.getLogger(__name__)


Hook = Callable[[], Awaitable[None]]


async def connect(
    url: str, name: str, on_lost: Hook | None = None, on_back: Hook | None = None
) -> Client:
    """Connects, reconnecting forever; `on_lost`/`on_back` let a service tell its health."""

    async def on_error(e: Exception) -> None:
        log.warning("nats error", extra={"error": repr(e)})

    async def on_disconnect() -> None:
        log.warning("nats disconnected")
        if on_lost is not None:
            await on_lost()

    async def on_reconnect() -> None:
        log.info("nats reconnected")
        if on_back is not None:
            await on_back()

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
