"""Frequency caps per channel and across channels, and who gets a cap's last slot.

A cap allows `limit` sends to one person per rolling `window`, on one channel or on all
(`*`), counting every journey. When a send would take the LAST slot of a cap, it does not
go at once: it holds the slot for the hold window (a short `Delayed`), and when the hold
ends the highest-value send among those that asked during it wins; the others are
suppressed. So several journeys wanting one slot within one decision window are settled
by value (the decision's score), then by the journeys' priority, not by arrival order.
A slot with more room sends at once.
Pure: the ledger's entries come in, a verdict goes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.kernel.cap_text import parse_cap_text

ALL_CHANNELS = "*"


class SendState(StrEnum):
    HELD = "held"  # holding a cap's last slot until `hold_until`
    SENT = "sent"  # the send command is queued
    SUPPRESSED = "suppressed"
    DELAYED = "delayed"  # quiet hours: asked again at `hold_until`
    FAILED = "failed"  # passed its guards, but rendering gave up: nothing went out


@dataclass(frozen=True)
class LedgerEntry:
    """One send of one person, as the per-profile send ledger keeps it (latest state)."""

    tenant_id: str
    profile_id: str
    send_id: str
    channel: str
    journey_id: str
    step_id: str
    state: SendState
    time: datetime  # when it reached this state
    value: float = 0.0
    priority: int = 0  # the sending journey's priority: settles a contest of equal value
    reason: str = ""  # suppression or delay reason
    hold_until: datetime | None = None
    feedback: str = ""  # the channel's latest outcome: delivered, bounced, ...
    # whose journey run made the send ('': `profile_id`'s): a merge moves `profile_id` to
    # the survivor (one person, one set of caps), this stays, so feedback finds the run
    run_profile_id: str = ""

    @property
    def run_profile(self) -> str:
        return self.run_profile_id or self.profile_id


@dataclass(frozen=True)
class FrequencyCap:
    channel: str  # a channel, or `*` for all of them
    limit: int
    window: timedelta

    def covers(self, channel: str) -> bool:
        return self.channel in (channel, ALL_CHANNELS)

    def __str__(self) -> str:
        return f"{self.channel}={self.limit}/{int(self.window.total_seconds())}s"


def parse_caps(text: str) -> tuple[FrequencyCap, ...]:
    """`email=3/24h,*=5/7d` -> caps; ValueError naming the bad part."""
    return tuple(FrequencyCap(*cap) for cap in parse_cap_text(text))


@dataclass(frozen=True)
class Pass:
    pass


@dataclass(frozen=True)
class Full:
    cap: FrequencyCap


@dataclass(frozen=True)
class Hold:
    until: datetime


@dataclass(frozen=True)
class Outbid:
    cap: FrequencyCap
    winner: str  # the send id that takes the slot


CapVerdict = Pass | Full | Hold | Outbid


def check_caps(
    caps: Sequence[FrequencyCap],
    channel: str,
    send_id: str,
    value: float,
    entries: Iterable[LedgerEntry],
    now: datetime,
    hold: timedelta,
) -> CapVerdict:
    """The caps' verdict on a send, given the person's ledger (sent and held entries)."""
    entries = list(entries)
    sent = [e for e in entries if e.state is SendState.SENT and e.send_id != send_id]
    tight = []
    for cap in caps:
        if not cap.covers(channel):
            continue
        used = sum(1 for e in sent if cap.covers(e.channel) and e.time > now - cap.window)
        if used >= cap.limit:
            return Full(cap)
        if used == cap.limit - 1:
            tight.append(cap)
    if not tight or hold <= timedelta(0):
        return Pass()
    own = next((e for e in entries if e.send_id == send_id and e.state is SendState.HELD), None)
    if own is None or own.hold_until is None:
        return Hold(now + hold)
    if now < own.hold_until:
        return Hold(own.hold_until)  # asked again early: keep holding
    for cap in tight:
        rivals = [
            e
            for e in entries
            if e.state is SendState.HELD
            and e.send_id != send_id
            and cap.covers(e.channel)
            and e.hold_until is not None
            and e.hold_until + hold >= now  # a holder that never came back lapses
        ]
        best = max(rivals, key=_rank, default=None)
        if best is not None and _rank(best) > _rank(own):
            return Outbid(cap, best.send_id)
    return Pass()


def _rank(entry: LedgerEntry) -> tuple[float, int, float, str]:
    """Higher value wins; on a tie the higher-priority journey, then the earlier asker,
    then the smaller id (deterministic)."""
    return (entry.value, entry.priority, -entry.time.timestamp(), _inverted(entry.send_id))


def _inverted(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in text)
