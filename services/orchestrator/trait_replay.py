"""Relearning the tenants' traits from identity's stream, in `python -m services.orchestrator
replay`.

The orchestrator learns which traits a tenant's profiles hold as identity's changes go by
(`trait_names`, read by the submit check of templates); profiles that last changed before
it learnt them (before `orchestrator_0009`, or before its database was restored) are not
known, and a template reading their traits would be refused. The service's replay
command, after the read models, reads identity's stream from its first message
(`services.kernel.messaging.identity_replay`) and learns every trait and computed trait it
shows. Names already known stay, so a second run learns nothing new, and the command may
run beside serving replicas, which read the names at the next submit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from services.kernel.messaging.connection import connect
from services.kernel.messaging.identity_replay import replay_profile_changes
from services.kernel.profile_changes import ProfileChange
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.orchestrator import handlers

log = logging.getLogger(__name__)


def trait_names_rebuild(nats_url: str) -> Callable[[UnitOfWorkFactory[Any]], int]:
    """The orchestrator's `App.rebuild`: relearns the traits from identity's stream at
    `nats_url`; returns how many of its messages it read."""

    def rebuild(units: UnitOfWorkFactory[Any]) -> int:
        return asyncio.run(relearn_traits(nats_url, units))

    return rebuild


async def relearn_traits(nats_url: str, units: UnitOfWorkFactory[Any]) -> int:
    """Replays identity's stream into `trait_names`; the messages read."""

    def learn(changes: list[ProfileChange]) -> int:
        with units() as uow:
            named = handlers.learn_supplied_traits(uow, changes)
            uow.commit()
        return named

    async def learn_apart(changes: list[ProfileChange]) -> int:
        return await asyncio.to_thread(learn, changes)

    nc = await connect(nats_url, "layercake-orchestrator-replay")
    try:
        read, named = await replay_profile_changes(nc.jetstream(), learn_apart)
    finally:
        await nc.close()
    log.info("traits relearnt", extra={"messages": read, "changes": named})
    return read
