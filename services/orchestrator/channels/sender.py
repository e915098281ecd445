"""What a channel adapter's delivery answers, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from layercake.channel.v1 import channel_pb2


class Result(Enum):
    DELIVERED = "delivered"  # accepted by the receiving server or endpoint
    BOUNCED = "bounced"  # refused for good: no retry can help
    RETRY = "retry"  # a transient failure: try again later


@dataclass(frozen=True)
class Attempt:
    result: Result
    detail: str = ""


class Sender(Protocol):
    """Delivers one command; never raises for a delivery problem (it answers RETRY)."""

    async def deliver(self, command: channel_pb2.SendCommand) -> Attempt: ...

    async def close(self) -> None: ...
