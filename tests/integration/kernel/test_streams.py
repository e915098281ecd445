"""Streams are created or brought up to date at every start, without losing messages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType
from nats.js.errors import NotFoundError

from services.kernel.messaging.streams import DAY, STREAMS, StreamSpec, ensure_streams
from tests.conftest import random_id
from tests.integration.kernel.support import subject_counts


@pytest.fixture
async def scratch_stream(js: JetStreamContext) -> AsyncIterator[str]:
    """A stream name of this test's own, deleted afterwards."""
    name = random_id("KTEST_").upper()
    yield name
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(name)


async def test_ensure_streams_twice_keeps_config_and_messages(js: JetStreamContext) -> None:
    tenant = random_id("t")
    kept = f"layercake.{tenant}.identity.kept"
    await js.publish(kept, b"x")
    await ensure_streams(js)
    await ensure_streams(js)
    for spec in STREAMS:
        info = await js.stream_info(spec.name)
        assert info.config.subjects == list(spec.subjects)
        assert info.config.storage == StorageType.FILE
        assert info.config.retention == RetentionPolicy.LIMITS
        assert info.config.duplicate_window == 120
    assert (await js.stream_info("INGEST")).config.max_age == 7 * DAY
    assert (await js.stream_info("DEADLETTER")).config.max_age == 30 * DAY
    assert await subject_counts(js, "IDENTITY", kept) == {kept: 1}


async def test_a_changed_spec_updates_the_existing_stream(
    js: JetStreamContext, scratch_stream: str
) -> None:
    token = random_id()
    first = StreamSpec(scratch_stream, (f"ktest.{token}.a.>",), max_age=3600)
    with pytest.raises(NotFoundError):
        await js.stream_info(scratch_stream)
    await ensure_streams(js, (first,))
    await js.publish(f"ktest.{token}.a.one", b"1")
    await ensure_streams(js, (first,))  # idempotent: no error, nothing lost
    info = await js.stream_info(scratch_stream)
    assert info.config.subjects == [f"ktest.{token}.a.>"]
    assert info.state.messages == 1

    changed = StreamSpec(scratch_stream, (f"ktest.{token}.a.>", f"ktest.{token}.b.>"), max_age=7200)
    await ensure_streams(js, (changed,), duplicate_window=30)
    info = await js.stream_info(scratch_stream)
    assert info.config.subjects == [f"ktest.{token}.a.>", f"ktest.{token}.b.>"]
    assert info.config.max_age == 7200
    assert info.config.duplicate_window == 30
    assert info.state.messages == 1
    ack = await js.publish(f"ktest.{token}.b.two", b"2")
    assert ack.stream == scratch_stream
