"""One consumer handler made of handlers per event type.

A subject carries whatever event types its producer adds over time; a consumer
applies the types it knows and claims the rest as handled, so a new event type
upstream never dead-letters a stream downstream. A service follows another's
stream with one durable consumer over all of it (`follow`): two consumers, one
per event type, would each keep their own order, so a later event of one type
could overtake an earlier event of another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from services.kernel.messaging import subjects
from services.kernel.messaging.consumer import ConsumerSpec, Handler
from services.kernel.messaging.envelope import Envelope
from services.kernel.unit_of_work import AbstractUnitOfWork

W = TypeVar("W", bound=AbstractUnitOfWork)


def route(handlers: Mapping[str, Handler[W]]) -> Handler[W]:
    """Dispatches by CloudEvents type (the full protobuf message name); unknown types are no-ops."""
    table = dict(handlers)

    def dispatch(uow: W, envelope: Envelope) -> None:
        handler = table.get(envelope.type)
        if handler is not None:
            handler(uow, envelope)

    return dispatch


def follow(durable: str, producer: str, handlers: Mapping[str, Handler[W]]) -> ConsumerSpec[W]:
    """One durable consumer over `layercake.*.<producer>.>` (the producer's stream), by type."""
    return ConsumerSpec(
        durable=durable,
        stream=producer.upper(),
        filter_subject=subjects.integration("*", producer, ">"),
        handler=route(handlers),
    )
