"""The public gateway API over real gRPC and a real nats-server."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from layercake.events.v1 import ingest_pb2
from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from layercake.gateway.v1.ingest_pb2 import IngestEvent
from services.gateway import handlers, ingest_mapping
from services.gateway.config import GatewayConfig
from services.gateway.domain.commands import RevokeApiKey
from services.gateway.domain.keys import parse_key
from services.kernel.messaging.batch import open_envelopes
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.relay import OutboxRelay
from services.kernel.principals import Actor
from tests.conftest import random_id
from tests.integration.gateway.conftest import RunningGateway, RunningIdentity, StartGateway
from tests.polling import eventually

ACCEPTED = gpb.IngestResult.STATUS_ACCEPTED
DUPLICATE = gpb.IngestResult.STATUS_DUPLICATE
REJECTED = gpb.IngestResult.STATUS_REJECTED


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def event(message_id: str | None = None, **extra: object) -> IngestEvent:
    body = {
        "message_id": random_id("m-") if message_id is None else message_id,
        "type": "track",
        "event": "page_viewed",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"cookie_id": "ck-81", "email": "Ann@Example.com"},
        "properties": {"page": "March Madness Deals"},
        "consent": {"email_marketing": True},
    } | extra
    return json_format.ParseDict(body, IngestEvent())


def details(error: grpc.aio.AioRpcError) -> tuple[list[str], float | None]:
    """Fields of the BadRequest detail, and the RetryInfo delay, of a refused call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    fields: list[str] = []
    delay: float | None = None
    for detail in status.details if status else []:
        bad, retry = error_details_pb2.BadRequest(), error_details_pb2.RetryInfo()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
        elif detail.Unpack(retry):
            delay = retry.retry_delay.ToTimedelta().total_seconds()
    return fields, delay


async def stored_events(js: JetStreamContext, tenant: str) -> list[Envelope]:
    """The tenant's events in INGEST, each batch message opened into its events."""
    subject = f"layercake.{tenant}.ingest"
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
    sub = await js.pull_subscribe(subject, stream="INGEST", config=config)
    found: list[Envelope] = []
    try:
        left = (await sub.consumer_info()).num_pending or 0
        while left > 0:
            msgs = await sub.fetch(min(left, 256), timeout=5)
            left -= len(msgs)
            for m in msgs:
                found += open_envelopes(m.subject, m.headers, m.data, m.metadata.sequence.stream)
    finally:
        await sub.unsubscribe()
    return found


async def stored_count(js: JetStreamContext, tenant: str) -> int:
    return len(await stored_events(js, tenant))


async def test_ingest_lands_in_the_stream_with_cloudevents_headers(
    gateway: RunningGateway, js: JetStreamContext
) -> None:
    key = gateway.key("ingest")
    sent = [event(), event(type="identify", event="", traits={"plan": "gold"})]
    reply = await gateway.stub.Ingest(gpb.IngestRequest(events=sent), metadata=auth(key))
    assert [r.message_id for r in reply.results] == [e.message_id for e in sent]
    assert [r.status for r in reply.results] == [ACCEPTED, ACCEPTED]
    assert reply.results[0].sequence == reply.results[1].sequence  # one message for both
    key_id = parse_key(key).key_id  # type: ignore[union-attr]
    msg = await js.get_msg("INGEST", reply.results[0].sequence)
    assert msg.subject == f"layercake.{gateway.tenant}.ingest"
    headers = msg.headers or {}
    assert headers["ce-id"] == headers["Nats-Msg-Id"]
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == "layercake.events.v1.EventBatch"
    assert headers["ce-source"] == "gateway"
    assert headers["ce-tenantid"] == gateway.tenant
    assert headers["content-type"] == "application/protobuf"
    assert headers["ce-time"]
    envelopes = open_envelopes(msg.subject, headers, msg.data or b"")
    for envelope, original in zip(envelopes, sent, strict=True):
        assert envelope.event_id == ingest_mapping.ingest_event_id(
            gateway.tenant, original.message_id
        )
        assert envelope.type == "layercake.events.v1.EventIngested"
        body = ingest_pb2.EventIngested.FromString(envelope.payload)
        assert (body.tenant_id, body.api_key_id) == (gateway.tenant, key_id)
        as_sent = type(body.event).FromString(original.SerializeToString())  # wire-compatible
        assert body.event == as_sent  # by content: a map's wire order is not fixed
        assert body.HasField("receive_time")
    assert await stored_count(js, gateway.tenant) == 2


async def test_same_message_id_again_is_a_duplicate_and_stored_once(
    gateway: RunningGateway, js: JetStreamContext
) -> None:
    key = gateway.key("ingest")
    first = await gateway.stub.Ingest(gpb.IngestRequest(events=[event("m-1")]), metadata=auth(key))
    again = await gateway.stub.Ingest(
        gpb.IngestRequest(events=[event("m-1"), event("m-2")]), metadata=auth(key)
    )
    assert [r.status for r in again.results] == [DUPLICATE, ACCEPTED]
    assert again.results[0].sequence == first.results[0].sequence
    assert await stored_count(js, gateway.tenant) == 2


async def test_bad_events_are_rejected_by_index_and_the_good_ones_accepted(
    gateway: RunningGateway, js: JetStreamContext
) -> None:
    key = gateway.key("ingest")
    batch = [event(), event(identifiers={"email": ""}), event(message_id=""), event()]
    reply = await gateway.stub.Ingest(gpb.IngestRequest(events=batch), metadata=auth(key))
    assert [(r.index, r.status) for r in reply.results] == [
        (0, ACCEPTED),
        (1, REJECTED),
        (2, REJECTED),
        (3, ACCEPTED),
    ]
    assert [v.field for v in reply.results[1].violations] == ["events[1].identifiers.email"]
    assert [v.field for v in reply.results[2].violations] == ["events[2].message_id"]
    assert await stored_count(js, gateway.tenant) == 2


async def test_empty_batch_is_invalid(gateway: RunningGateway) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.stub.Ingest(gpb.IngestRequest(), metadata=auth(gateway.key("ingest")))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(refused.value)[0] == ["events"]


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "Bearer nonsense"),),
        (("authorization", "Bearer lc_0123456789abcdef_unknownsecret"),),
    ],
)
async def test_missing_or_unknown_key_is_unauthenticated(
    gateway: RunningGateway, metadata: tuple[tuple[str, str], ...]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_wrong_secret_is_unauthenticated(gateway: RunningGateway) -> None:
    key_id = parse_key(gateway.key("ingest")).key_id  # type: ignore[union-attr]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.stub.Ingest(
            gpb.IngestRequest(events=[event()]), metadata=auth(f"lc_{key_id}_guessed")
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_key_issued_after_start_works_through_x_api_key(gateway: RunningGateway) -> None:
    await gateway.stub.Ingest(
        gpb.IngestRequest(events=[event()]), metadata=(("x-api-key", gateway.key()),)
    )


async def test_revoked_key_is_refused_once_its_event_is_relayed(
    gateway: RunningGateway, js: JetStreamContext
) -> None:
    key, other = gateway.key("ingest"), gateway.key("ingest")
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(key))
    key_id = parse_key(key).key_id  # type: ignore[union-attr]
    with gateway.uow() as uow:
        handlers.revoke_api_key(
            uow, RevokeApiKey(gateway.tenant, key_id, "leaked"), Actor.system("test")
        )
    # cached, so still admitted until the revocation reaches the cache through NATS
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(key))
    assert await OutboxRelay(gateway.db, js).flush() >= 1

    async def refused() -> grpc.StatusCode:
        try:
            await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(key))
        except grpc.aio.AioRpcError as e:
            return e.code()
        raise AssertionError("still admitted")

    assert await eventually(refused) == grpc.StatusCode.UNAUTHENTICATED
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(other))


async def test_missing_scope_is_permission_denied(gateway: RunningGateway) -> None:
    reader, writer = gateway.key("profiles:read"), gateway.key("ingest")
    with pytest.raises(grpc.aio.AioRpcError) as ingest:
        await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(reader))
    assert ingest.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as lookup:
        await gateway.profiles.GetProfile(
            ppb.GetProfileRequest(profile_ref="cookie_id:ck-81"), metadata=auth(writer)
        )
    assert lookup.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_over_rate_is_resource_exhausted_with_retry_info(
    start_gateway: StartGateway, js: JetStreamContext
) -> None:
    slow = GatewayConfig.model_construct(rate_limit=1.0, rate_burst=3.0)
    gateway = await start_gateway(slow)
    key = gateway.key("ingest")
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event(), event()]), metadata=auth(key))
    with pytest.raises(grpc.aio.AioRpcError) as over:
        await gateway.stub.Ingest(gpb.IngestRequest(events=[event(), event()]), metadata=auth(key))
    assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _, delay = details(over.value)
    assert delay is not None and 0 < delay <= 1.0
    other_key = gateway.key("ingest")  # another key has its own bucket
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(other_key))
    assert await stored_count(js, gateway.tenant) == 3


async def test_get_profile_asks_identity_in_the_keys_tenant(
    gateway: RunningGateway, identity: RunningIdentity
) -> None:
    reply = await gateway.profiles.GetProfile(
        ppb.GetProfileRequest(profile_ref="cookie_id:ck-81"),
        metadata=auth(gateway.key("profiles:read")),
    )
    assert reply.profile.profile_id == "p-1"
    [asked] = identity.fake.requests
    assert (asked.tenant_id, asked.profile_ref) == (gateway.tenant, "cookie_id:ck-81")


async def test_forget_profile_asks_identity_in_the_keys_tenant_with_profiles_write(
    gateway: RunningGateway, identity: RunningIdentity
) -> None:
    request = ppb.ForgetProfileRequest(profile_ref="email:ann@example.com", request_id="r-1")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await gateway.profiles.ForgetProfile(request, metadata=auth(gateway.key("profiles:read")))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await gateway.profiles.ForgetProfile(
            ppb.ForgetProfileRequest(), metadata=auth(gateway.key("profiles:write"))
        )
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reply = await gateway.profiles.ForgetProfile(
        request, metadata=auth(gateway.key("profiles:write"))
    )
    assert (reply.profile_id, list(reply.alias_profile_ids)) == ("p-1", ["p-0"])
    [asked] = identity.fake.forgets
    assert (asked.tenant_id, asked.profile_ref, asked.request_id) == (
        gateway.tenant,
        "email:ann@example.com",
        "r-1",
    )


async def test_get_profile_errors_of_identity_come_back_mapped(
    gateway: RunningGateway, identity: RunningIdentity
) -> None:
    key = auth(gateway.key())
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await gateway.profiles.GetProfile(
            ppb.GetProfileRequest(profile_ref="email:nobody@example.com"), metadata=key
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await gateway.profiles.GetProfile(
            ppb.GetProfileRequest(profile_ref="bogus:x"), metadata=key
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(bad.value)[0] == ["profile_ref"]


async def test_get_profile_validates_before_asking_identity(
    gateway: RunningGateway, identity: RunningIdentity
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await gateway.profiles.GetProfile(
            ppb.GetProfileRequest(profile_ref=" "), metadata=auth(gateway.key())
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(bad.value)[0] == ["profile_ref"]
    assert identity.fake.requests == []


async def test_slow_identity_hits_the_deadline(
    start_gateway: StartGateway, identity: RunningIdentity
) -> None:
    gateway = await start_gateway(rpc_timeout=0.2)
    identity.fake.delay = 1.0
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await gateway.profiles.GetProfile(
            ppb.GetProfileRequest(profile_ref="cookie_id:ck-81"),
            metadata=auth(gateway.key()),
            timeout=5,
        )
    # the partner's own deadline was 5 s: the gateway says which hop ran out of time
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_unknown_keys_are_rate_limited_before_the_database_is_asked(
    start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = await start_gateway(GatewayConfig.model_construct(unknown_key_rate=1.0))
    known = gateway.key("ingest")
    directory = gateway.wiring.keys
    assert directory is not None
    await directory.load()  # as at start: every key then issued is cached
    lookups: list[str] = []
    looked_up = directory.get

    async def counted(key_id: str) -> Any:
        lookups.append(key_id)
        return await looked_up(key_id)

    monkeypatch.setattr(directory, "get", counted)
    guesses = [f"lc_{guess}_secret" for guess in ("guessone1", "guesstwo2")]
    with pytest.raises(grpc.aio.AioRpcError) as first:
        await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(guesses[0]))
    with pytest.raises(grpc.aio.AioRpcError) as second:
        await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(guesses[1]))
    assert first.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert second.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(second.value)[1] is not None  # RetryInfo: the bucket refills
    assert lookups == ["guessone1"]  # the second guess never reached the store
    # a cached key is not held up by the guesses
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(known))


async def test_a_call_costing_more_than_the_burst_is_refused_without_retry_info(
    start_gateway: StartGateway, js: JetStreamContext
) -> None:
    gateway = await start_gateway(GatewayConfig.model_construct(rate_limit=1.0, rate_burst=3.0))
    key = gateway.key("ingest")
    with pytest.raises(grpc.aio.AioRpcError) as over:
        await gateway.stub.Ingest(gpb.IngestRequest(events=[event()] * 4), metadata=auth(key))
    assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "burst" in (over.value.details() or "")
    assert details(over.value)[1] is None  # no wait makes it fit: do not retry
    assert await stored_count(js, gateway.tenant) == 0


@pytest.mark.parametrize(
    ("megabytes", "code"),
    [
        (9, grpc.StatusCode.INVALID_ARGUMENT),  # over the request bound, named
        (17, grpc.StatusCode.RESOURCE_EXHAUSTED),  # over gRPC's message limit
    ],
)
async def test_an_oversized_request_is_never_unavailable(
    gateway: RunningGateway, js: JetStreamContext, megabytes: int, code: grpc.StatusCode
) -> None:
    key = gateway.key("ingest")
    huge = event(properties={"blob": "x" * (megabytes * 1024 * 1024)})
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.stub.Ingest(gpb.IngestRequest(events=[huge]), metadata=auth(key), timeout=30)
    assert refused.value.code() == code
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert "LAYERCAKE_GATEWAY_MAX_REQUEST_BYTES" in (refused.value.details() or "")
    assert await stored_count(js, gateway.tenant) == 0
