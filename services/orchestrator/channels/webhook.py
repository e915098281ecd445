"""Webhooks over HTTP with httpx: the command as JSON, signed as every webhook of the
orchestrator is (`services.orchestrator.webhook_signing`: timestamp and body, so a receiver
refuses a replay). 2xx is delivered; 408, 429 and 5xx are retried; other 4xx bounce.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from google.protobuf import json_format

from layercake.channel.v1 import channel_pb2
from services.orchestrator.channels.sender import Attempt, Result
from services.orchestrator.webhook_signing import signed_headers

SEND_ID = "X-Layercake-Send-Id"


class WebhookSender:
    def __init__(
        self,
        url: str,
        secret: bytes,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.secret = secret
        self.clock = clock
        self._client = httpx.AsyncClient(timeout=timeout)

    async def deliver(self, command: channel_pb2.SendCommand) -> Attempt:
        body = json_format.MessageToJson(command, indent=None, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            SEND_ID: command.send_id,
            **signed_headers(self.secret, body, self.clock()),
        }
        try:
            # always the configured endpoint: a command never picks where data goes
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            return Attempt(Result.RETRY, repr(e)[:300])
        status = response.status_code
        detail = f"HTTP {status}"
        if 200 <= status < 300:
            return Attempt(Result.DELIVERED, detail)
        if status in (408, 429) or status >= 500:
            return Attempt(Result.RETRY, detail)
        return Attempt(Result.BOUNCED, detail)

    async def close(self) -> None:
        await self._client.aclose()
