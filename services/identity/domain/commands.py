"""Commands the identity service handles, in the imperative."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ApplyIngestedEvent:
    """Resolve who sent a raw event and fold its traits and consent into their profile."""

    tenant_id: str
    message_id: str
    event_time: datetime
    identifiers: tuple[tuple[str, str], ...]  # (type, raw value), normalised under the rules
    traits: dict[str, str] = field(default_factory=dict, hash=False)  # name -> JSON value
    consent: dict[str, bool] = field(default_factory=dict, hash=False)
    event_type: str = ""  # track or identify
    event_name: str = ""  # a track event's name: what computed traits count
    properties: dict[str, Any] = field(default_factory=dict, hash=False)  # as sent (JSON)
    context: dict[str, Any] = field(default_factory=dict, hash=False)
    receive_time: datetime | None = None
    consent_source: str = ""  # where its consent decisions were collected
