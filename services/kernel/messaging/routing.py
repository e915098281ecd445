"""One consumer handler made of handlers per event type.

A subject carries whatever event types its producer adds over time; a consumer
applies the types it knows and claims the rest as handled, so a new event type
upstream never dead-letters a stream downstream.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.kernel.messaging.consumer import Handler
from services.kernel.messaging.envelope import Envelope
from services.kernel.store.unit_of_work import UnitOfWork


def route(handlers: Mapping[str, Handler]) -> Handler:
    """Dispatches by CloudEvents type (the full protobuf message name); unknown types are no-ops."""
    table = dict(handlers)

    def dispatch(uow: UnitOfWork, envelope: Envelope) -> None:
        handler = table.get(envelope.type)
        if handler is not None:
            handler(uow, envelope)

    return dispatch
