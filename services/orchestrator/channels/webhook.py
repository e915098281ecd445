"""Webhooks over HTTP with httpx: the command as JSON, signed with HMAC-SHA-256.

The receiver checks `X-Layercake-Signature: v1=<hex>` = HMAC-SHA-256(secret,
`<X-Layercake-Timestamp>.<body>`) and refuses an old timestamp, so a captured request
cannot be replayed later. 2xx is delivered; 408, 429 and 5xx are retried; other 4xx bounce.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import httpx
from google.protobuf import json_format

from layercake.channel.v1 import channel_pb2
from services.orchestrator.channels.sender import Attempt, Result

SIGNATURE = "X-Layercake-Signature"
TIMESTAMP = "X-Layercake-Timestamp"
SEND_ID = "X-Layercake-Send-Id"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signed: str) -> bool:
    """What a receiver runs (the tests do): constant-time comparison."""
    return hmac.compare_digest(signature(secret, timestamp, body), signed)


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
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP: timestamp,
            SIGNATURE: signature(self.secret, timestamp, body),
            SEND_ID: command.send_id,
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
