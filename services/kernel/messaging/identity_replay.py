"""Reading identity's profile changes back from its stream, from the first message.

A service whose copy of identity's profiles lacks something it did not keep when the
changes went by (decision's text features, the orchestrator's trait names) replays them:
the kernel's `read_back` reads `IDENTITY` (kept in full, but for what a forget erased)
up to what is there when it starts, and each batch's `ProfileUpdated` and
`ComputedTraitChanged` go to the caller as `ProfileChange`s, oldest first. Any other
event, or one no reader can read (the follower's consumer refused it when it was
delivered), is skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.kernel.messaging import read_back, subjects
from services.kernel.messaging.batch import open_envelopes
from services.kernel.messaging.identity_feed import (
    COMPUTED_TRAIT_CHANGED,
    PROFILE_UPDATED,
    computed_trait_change,
    profile_change,
)
from services.kernel.profile_changes import ProfileChange

READERS = {PROFILE_UPDATED: profile_change, COMPUTED_TRAIT_CHANGED: computed_trait_change}


async def replay_profile_changes(
    js: JetStreamContext,
    apply: Callable[[list[ProfileChange]], Awaitable[int]],
    tenant_id: str = "*",
) -> tuple[int, int]:
    """Replays one tenant's part of identity's stream (every tenant's with `*`) through
    `apply`; (messages read, the sum of what `apply` returned). Without the stream (identity
    never ran) there is nothing to read."""
    changes_of = subjects.integration(tenant_id, "identity", ">")
    read = applied = 0
    try:
        async for batch in read_back.batches(js, "IDENTITY", changes_of):
            read += len(batch)
            changes = [c for msg in batch for c in _changes(msg)]
            if changes:
                applied += await apply(changes)
    except NotFoundError:  # no stream: identity never ran
        return 0, 0
    return read, applied


def _changes(msg: Msg) -> list[ProfileChange]:
    """The profile changes a message carries; none for other events or unreadable ones."""
    try:
        envelopes = open_envelopes(msg.subject, msg.headers, msg.data)
        return [READERS[e.type](e) for e in envelopes if e.type in READERS]
    except Exception:  # a message no reader can read changed nothing when it was delivered
        return []
