"""A tenant's business facts: stock per product and store, newest observation wins.

Facts arrive over NATS and gRPC, in any order and more than once; each stock level
carries when it was observed at the source (and optionally the source's counter), and
a level older than the one held changes nothing. A product that comes back in stock at
a store releases the people whose sends were suppressed for it (back-in-stock). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MAX_ID = 100  # product and store ids


@dataclass(frozen=True)
class StockFact:
    tenant_id: str
    product: str
    store: str
    units: int
    observe_time: datetime
    version: int = 0

    @property
    def in_stock(self) -> bool:
        return self.units > 0

    def newer_than(self, held: StockFact | None) -> bool:
        """Whether this level replaces `held`: observed later, or at the same time with a
        higher source counter. A repeat is not newer."""
        if held is None:
            return True
        return (self.observe_time, self.version) > (held.observe_time, held.version)


def back_in_stock(held: StockFact | None, new: StockFact) -> bool:
    """True when `new` turns an out-of-stock (or unknown) product into an in-stock one."""
    return new.in_stock and (held is None or not held.in_stock)


@dataclass(frozen=True)
class StockWaiter:
    """A person whose send was suppressed because a product was out of stock at a store."""

    tenant_id: str
    product: str
    store: str
    profile_id: str
    send_id: str
    journey_id: str
    step_id: str
    suppress_time: datetime
