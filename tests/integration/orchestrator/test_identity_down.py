"""Identity not answering is NotReady to the journey engine's directory: a consumer's
prepare step then waits for identity (its message held) rather than failing the message."""

from __future__ import annotations

import socket

import pytest

from services.kernel.errors import NotReady
from services.orchestrator.adapters.identity import IdentityTraits
from tests.signing import INTERNAL


def closed_port() -> int:
    """A port nothing listens on: bound for a moment, then let go."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_the_directory_says_not_ready_while_identity_is_down() -> None:
    directory = IdentityTraits(f"127.0.0.1:{closed_port()}", 2.0, INTERNAL)
    try:
        with pytest.raises(NotReady, match="GetProfile"):
            await directory.find("acme", "email:ann@example.com")
        with pytest.raises(NotReady, match="ListProfileEvents"):
            await directory.event_ids("acme", "p-ann")
    finally:
        await directory.close()
