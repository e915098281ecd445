"""What a channel reports about a send, and which reports outrank others. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

WITHDRAWING = frozenset({"unsubscribed", "complained"})
"""Reports that withdraw the person's consent for the channel's purpose."""

_RANK = {"delivered": 1, "opened": 2, "clicked": 3, "bounced": 4, "complained": 5}
_RANK |= {"unsubscribed": 6}


@dataclass(frozen=True)
class ChannelFeedback:
    tenant_id: str
    send_id: str
    channel: str
    profile_id: str
    kind: str  # delivered, opened, clicked, bounced, complained, unsubscribed
    detail: str
    occur_time: datetime


def outranks(kind: str, held: str) -> bool:
    """A later, lesser report (delivered after opened) does not replace a greater one."""
    return _RANK.get(kind, 0) > _RANK.get(held, 0)
