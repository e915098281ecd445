"""The public ProfilesService and DecisionsService through the real gateway, identity and
decision (in-process, real nats-server, SQLite): one partner's profiles, audiences, models,
offers and decisions end to end; then every RPC of every public service, asked by another
partner for the first one's things, answers not found or nothing of them; and every RPC
refuses a malformed request naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from layercake.gateway.v1 import decisions_service_pb2 as dpb
from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from tests.conftest import random_id
from tests.integration.conftest import Services
from tests.integration.gateway.partner import (
    Partner,
    auth,
    catalog_yaml,
    event,
    model_upload,
    partner,
    request_id,
    upload,
)
from tests.integration.gateway.rpcs import Rpc, public_rpcs, top_field, violations
from tests.polling import eventually

LIFECYCLE = ("Submit", "Approve", "Reject", "Publish", "Pause", "Resume", "Archive")
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture
async def channel(services: Services) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(services.addr(services.gateway)) as opened:
        yield opened


async def make_profile(a: Partner) -> None:
    email, cookie = f"{random_id('ann')}@example.com", random_id("ck-")
    ids = {"email": email, "cookie_id": cookie}
    first = event("identify", "2026-03-01T12:00:00Z", ids, traits={"plan": "gold"})
    later = event(
        "identify",
        "2026-03-02T12:00:00Z",
        {"cookie_id": cookie},
        traits={"plan": "platinum"},
        consent={"email_marketing": True},
    )
    reply = await a.gateway.Ingest(
        gpb.IngestRequest(events=[first, later]), metadata=auth(a.admin), timeout=10
    )
    assert all(r.status == gpb.IngestResult.STATUS_ACCEPTED for r in reply.results)
    ref = f"email:{email}"

    async def merged() -> ppb.Profile | None:
        found = (
            await a.profiles.GetProfile(
                ppb.GetProfileRequest(profile_ref=ref), metadata=auth(a.admin), timeout=5
            )
        ).profile
        return found if found.traits["plan"].value.string_value == "platinum" else None

    profile = await eventually(merged, timeout=20)
    assert profile.consent["email_marketing"].granted
    linked = {i.type: i for i in profile.identifiers}
    assert linked["cookie_id"].value == cookie and linked["cookie_id"].message_id
    a.made |= {"profile_id": profile.profile_id, "email": email, "cookie": cookie}


async def check_profile_reads(a: Partner) -> None:
    key, ref = auth(a.admin), f"cookie_id:{a.made['cookie']}"
    page = await a.profiles.ListProfileEvents(
        ppb.ListProfileEventsRequest(profile_ref=ref, page_size=1), metadata=key, timeout=5
    )
    rest = await a.profiles.ListProfileEvents(
        ppb.ListProfileEventsRequest(profile_ref=ref, page_token=page.next_page_token),
        metadata=key,
        timeout=5,
    )
    times = [e.event_time.ToJsonString() for e in [*page.events, *rest.events]]
    assert times == ["2026-03-02T12:00:00Z", "2026-03-01T12:00:00Z"]  # newest first
    carried = [(i.type, i.value, i.hashed) for i in rest.events[0].identifiers]
    assert ("cookie_id", a.made["cookie"], False) in carried and ("email", True) in {
        (t, h) for t, _, h in carried
    }  # the gateway's own ProfileIdentifier: the email hashed
    history = await a.profiles.ListTraitHistory(
        ppb.ListTraitHistoryRequest(profile_ref=ref, trait="plan"), metadata=key, timeout=5
    )
    assert [c.value.string_value for c in history.changes] == ["platinum", "gold"]
    found = await a.profiles.SearchProfiles(
        ppb.SearchProfilesRequest(trait="plan", value=struct_pb2.Value(string_value="platinum")),
        metadata=key,
        timeout=5,
    )
    assert [p.profile_id for p in found.profiles] == [a.made["profile_id"]]


async def make_audience(a: Partner) -> None:
    audience = random_id("platinum-")
    yaml = (
        f"audience: {audience}\nowner: growth\ndescription: best customers\n"
        "rule: profile.traits.plan == 'platinum'\n"
    )
    applied = await a.profiles.ApplyAudience(
        ppb.ApplyAudienceRequest(request_id=request_id(), yaml=yaml),
        metadata=auth(a.admin),
        timeout=10,
    )
    assert (applied.version.kind, applied.version.state) == ("audience", "draft")
    assert applied.audience.audience_id == audience
    steps = (
        (a.profiles.SubmitAudience, ppb.SubmitAudienceRequest, a.admin),
        (a.profiles.ApproveAudience, ppb.ApproveAudienceRequest, a.reviewer),
        (a.profiles.PublishAudience, ppb.PublishAudienceRequest, a.reviewer),
    )
    for rpc, request_type, key in steps:
        moved = await rpc(
            request_type(request_id=request_id(), audience_id=audience),
            metadata=auth(key),
            timeout=10,
        )
    assert moved.version.state == "published"
    assert moved.version.authors == ["person:admin"]  # as the kernel writes principals

    async def joined() -> ppb.GetAudienceResponse | None:
        got = await a.profiles.GetAudience(
            ppb.GetAudienceRequest(audience_id=audience), metadata=auth(a.admin), timeout=5
        )
        return got if got.size == 1 else None

    got = await eventually(joined, timeout=20)
    assert got.version.state == "published"
    listed = await a.profiles.ListAudiences(
        ppb.ListAudiencesRequest(), metadata=auth(a.admin), timeout=5
    )
    assert [(s.version.asset_id, s.size) for s in listed.audiences] == [(audience, 1)]
    members = await a.profiles.ListAudienceMembers(
        ppb.ListAudienceMembersRequest(audience_id=audience), metadata=auth(a.admin), timeout=5
    )
    assert [m.profile_id for m in members.members] == [a.made["profile_id"]]
    assert members.total_size == 1
    a.made["audience"] = audience


async def make_model(a: Partner) -> None:
    name = random_id("propensity-")
    header, content = model_upload(name, "v1")
    registered = await a.decisions.RegisterModel(
        upload(header, content), metadata=auth(a.admin), timeout=20
    )
    assert registered.model.size_bytes == len(content)
    assert registered.model.stage == dpb.MODEL_STAGE_REGISTERED
    proposed = await a.decisions.PromoteModel(
        dpb.PromoteModelRequest(
            request_id=request_id(), model_name=name, version="v1", stage=dpb.MODEL_STAGE_CHAMPION
        ),
        metadata=auth(a.admin),
        timeout=10,
    )
    assert proposed.change.state == "submitted"
    assert proposed.change.deployment.champion_version == "v1"
    await a.decisions.ApproveModelChange(
        dpb.ApproveModelChangeRequest(request_id=request_id(), model_name=name),
        metadata=auth(a.reviewer),
        timeout=10,
    )
    published = await a.decisions.PublishModelChange(
        dpb.PublishModelChangeRequest(request_id=request_id(), model_name=name),
        metadata=auth(a.reviewer),
        timeout=10,
    )
    assert published.change.state == "published"
    listed = await a.decisions.ListModels(
        dpb.ListModelsRequest(), metadata=auth(a.admin), timeout=5
    )
    assert [(m.model_name, m.version, m.stage) for m in listed.models] == [
        (name, "v1", dpb.MODEL_STAGE_CHAMPION)
    ]
    a.made["model"] = name


async def make_decision(a: Partner) -> None:
    placement, water, soda = random_id("pl-"), random_id("water-"), random_id("soda-")
    applied = await a.decisions.ApplyCatalog(
        dpb.ApplyCatalogRequest(request_id=request_id(), yaml=catalog_yaml(placement, water, soda)),
        metadata=auth(a.admin),
        timeout=10,
    )
    assert [(v.kind, v.asset_id, v.state) for v in applied.versions] == [
        ("placement", placement, "draft"),
        ("action", water, "draft"),
        ("action", soda, "draft"),
    ]
    for version in applied.versions:
        steps = (
            (a.decisions.SubmitCatalogAsset, dpb.SubmitCatalogAssetRequest, a.admin),
            (a.decisions.ApproveCatalogAsset, dpb.ApproveCatalogAssetRequest, a.reviewer),
            (a.decisions.PublishCatalogAsset, dpb.PublishCatalogAssetRequest, a.reviewer),
        )
        for rpc, request_type, key in steps:
            moved = await rpc(
                request_type(request_id=request_id(), kind=version.kind, asset_id=version.asset_id),
                metadata=auth(key),
                timeout=10,
            )
        assert moved.version.state == "published"
    offers = await a.decisions.ListOffers(
        dpb.ListOffersRequest(page_size=1), metadata=auth(a.reviewer), timeout=5
    )
    assert [o.action_id for o in offers.offers] == [min(soda, water)] and offers.next_page_token
    found = (
        await a.decisions.GetOffer(
            dpb.GetOfferRequest(action_id=soda), metadata=auth(a.reviewer), timeout=5
        )
    ).offer
    assert (found.state, found.published_version, found.value) == ("published", 1, 2.0)
    assert list(found.placements) == [placement] and found.attributes["product"] == "diet_soda"

    async def decided() -> dpb.DecideResponse | None:
        """A new request each time (a retry would get the first answer), until every
        replica's catalog holds both offers."""
        ask = dpb.DecideRequest(
            request_id=request_id(), profile_ref=f"email:{a.made['email']}", placement=placement
        )
        answer = await a.decisions.Decide(ask, metadata=auth(a.admin), timeout=5)
        return answer if len(answer.actions) == 2 else None

    answer = await eventually(decided, timeout=20)
    assert answer.profile_id == a.made["profile_id"] and answer.fallback
    assert [x.action_id for x in answer.actions] == [soda, water]  # by value alone
    outcome = dpb.RecordOutcomeRequest(
        request_id=request_id(),
        decision_id=answer.decision_id,
        action_id=soda,
        outcome=dpb.OUTCOME_CLICKED,
    )

    async def recorded() -> bool:
        """Once the decision log holds the decision (written in batches, a moment later)."""
        return (
            await a.decisions.RecordOutcome(outcome, metadata=auth(a.admin), timeout=5)
        ).recorded

    assert await eventually(recorded, timeout=20)
    a.made |= {"placement": placement, "action": soda, "decision": answer.decision_id}


async def unmerge_and_forget(a: Partner) -> None:
    key, ref = auth(a.admin), f"email:{a.made['email']}"
    cookie = f"cookie_id:{a.made['cookie']}"
    split = await a.profiles.UnmergeProfile(
        ppb.UnmergeProfileRequest(
            request_id=request_id(), profile_ref=ref, identifiers=[cookie], reason="shared device"
        ),
        metadata=key,
        timeout=10,
    )
    assert {(i.type, i.value) for i in split.new_profile.identifiers} == {
        ("cookie_id", a.made["cookie"])
    }
    forgotten = await a.profiles.ForgetProfile(
        ppb.ForgetProfileRequest(profile_ref=ref, request_id=request_id()), metadata=key, timeout=10
    )
    assert forgotten.profile_id == split.profile.profile_id
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await a.profiles.GetProfile(ppb.GetProfileRequest(profile_ref=ref), metadata=key, timeout=5)
    assert gone.value.code() == NOT_FOUND


# What another partner asks for, naming the first one's things (None: the RPC names nothing
# of anyone else; it acts in the caller's own tenant only). Every public RPC needs a line.
CROSS_TENANT: dict[str, Callable[[Partner], dict[str, Any]] | None] = {
    "GatewayService.Ingest": None,
    "GatewayService.CreatePrincipal": None,
    "GatewayService.GetPrincipal": lambda a: {"principal_id": a.reviewer_id},
    "GatewayService.ListPrincipals": lambda a: {},
    "GatewayService.GrantRole": lambda a: {"principal_id": a.reviewer_id, "role": "admin"},
    "GatewayService.RevokeRole": lambda a: {"principal_id": a.reviewer_id, "role": "operator"},
    "GatewayService.IssueApiKey": lambda a: {"principal_id": a.reviewer_id},
    "GatewayService.RevokeApiKey": lambda a: {"key_id": a.reviewer_key_id},
    "GatewayService.ListApiKeys": lambda a: {"principal_id": a.reviewer_id},
    "GatewayService.ApplyTrackingPlan": None,
    "GatewayService.GetTrackingPlan": lambda a: {},
    "ProfilesService.GetProfile": lambda a: {"profile_ref": a.made["profile_id"]},
    "ProfilesService.ListProfileEvents": lambda a: {"profile_ref": a.made["profile_id"]},
    "ProfilesService.ListTraitHistory": lambda a: {"profile_ref": a.made["profile_id"]},
    "ProfilesService.SearchProfiles": lambda a: {
        "trait": "plan",
        "value": struct_pb2.Value(string_value="platinum"),
    },
    "ProfilesService.UnmergeProfile": lambda a: {
        "profile_ref": a.made["profile_id"],
        "identifiers": [f"cookie_id:{a.made['cookie']}"],
    },
    "ProfilesService.ForgetProfile": lambda a: {"profile_ref": a.made["profile_id"]},
    "ProfilesService.ApplyAudience": None,
    **{
        f"ProfilesService.{verb}Audience": lambda a: {"audience_id": a.made["audience"]}
        for verb in LIFECYCLE
    },
    "ProfilesService.RollbackAudience": lambda a: {
        "audience_id": a.made["audience"],
        "to_version": 1,
    },
    "ProfilesService.GetAudience": lambda a: {"audience_id": a.made["audience"]},
    "ProfilesService.ListAudiences": lambda a: {},
    "ProfilesService.ListAudienceMembers": lambda a: {"audience_id": a.made["audience"]},
    "ProfilesService.ApplyComputedTraits": None,
    # the tenant's one computed-traits asset: the other tenant's own (it has none)
    **{f"ProfilesService.{verb}ComputedTraits": lambda a: {} for verb in LIFECYCLE},
    "ProfilesService.RollbackComputedTraits": lambda a: {"to_version": 1},
    "ProfilesService.GetComputedTraits": lambda a: {},
    "DecisionsService.Decide": lambda a: {
        "profile_ref": a.made["profile_id"],
        "placement": a.made["placement"],
    },
    "DecisionsService.RecordOutcome": lambda a: {
        "decision_id": a.made["decision"],
        "action_id": a.made["action"],
        "outcome": dpb.OUTCOME_CONVERTED,
    },
    "DecisionsService.RegisterModel": None,
    "DecisionsService.PromoteModel": lambda a: {
        "model_name": a.made["model"],
        "version": "v1",
        "stage": dpb.MODEL_STAGE_RETIRED,
    },
    "DecisionsService.ApproveModelChange": lambda a: {"model_name": a.made["model"]},
    "DecisionsService.PublishModelChange": lambda a: {"model_name": a.made["model"]},
    "DecisionsService.ListModels": lambda a: {},
    "DecisionsService.ListOffers": lambda a: {},
    "DecisionsService.GetOffer": lambda a: {"action_id": a.made["action"]},
    "DecisionsService.ApplyCatalog": None,
    **{
        f"DecisionsService.{verb}CatalogAsset": lambda a: {
            "kind": "placement",
            "asset_id": a.made["placement"],
        }
        for verb in LIFECYCLE
    },
    "DecisionsService.RollbackCatalogAsset": lambda a: {
        "kind": "placement",
        "asset_id": a.made["placement"],
        "to_version": 1,
    },
    "FactsService.SetFacts": None,
    "FactsService.GetFacts": lambda a: {"stock_keys": [{"product": "water", "store": "s-1"}]},
    "StatusService.GetStatus": lambda a: {},
    # the caller's own tenant's settings (the first partner's are never named)
    "SendSettingsService.GetSendSettings": lambda a: {},
    "SendSettingsService.UpdateSendSettings": None,
    # the Open Inference Protocol: the first partner's model, by name and version
    "GRPCInferenceService.ServerLive": None,
    "GRPCInferenceService.ServerReady": None,
    "GRPCInferenceService.ServerMetadata": None,
    "GRPCInferenceService.ModelReady": lambda a: {"name": a.made["model"], "version": "v1"},
    "GRPCInferenceService.ModelMetadata": lambda a: {"name": a.made["model"]},
    "GRPCInferenceService.ModelInfer": lambda a: {
        "model_name": a.made["model"],
        "model_version": "v1",
    },
    # journeys and templates: by ids of the first partner's (which made none here)
    **{
        f"JourneysService.{verb}{kind}": (lambda k: lambda a: {f"{k}_id": a.made[k]})(kind.lower())
        for kind in ("Journey", "Template")
        for verb in (
            "Submit",
            "Approve",
            "Reject",
            "Publish",
            "Pause",
            "Resume",
            "Archive",
            "Get",
        )
    },
    "JourneysService.RollbackJourney": lambda a: {"journey_id": a.made["journey"], "to_version": 1},
    "JourneysService.RollbackTemplate": lambda a: {
        "template_id": a.made["template"],
        "to_version": 1,
    },
    "JourneysService.ApplyJourney": None,
    "JourneysService.ApplyTemplate": None,
    "JourneysService.ListJourneys": lambda a: {},
    "JourneysService.ListTemplates": lambda a: {},
    "JourneysService.DiffJourneyVersions": lambda a: {
        "journey_id": a.made["journey"],
        "old_version": 1,
        "new_version": 2,
    },
    "JourneysService.DiffTemplateVersions": lambda a: {
        "template_id": a.made["template"],
        "old_version": 1,
        "new_version": 2,
    },
    "JourneysService.GetJourneyStats": lambda a: {"journey_id": a.made["journey"]},
    "JourneysService.MigrateJourneyRuns": lambda a: {
        "journey_id": a.made["journey"],
        "from_version": 1,
        "to_version": 2,
        "dry_run": True,
    },
    "JourneysService.EnterJourney": lambda a: {
        "journey_id": a.made["journey"],
        "profile_ref": a.made["profile_id"],
    },
}


async def another_partner_sees_nothing(
    a: Partner, b: Partner, rpcs: list[Rpc], channel: grpc.aio.Channel
) -> None:
    missing = [r.name for r in rpcs if r.name not in CROSS_TENANT]
    assert missing == [], f"say in CROSS_TENANT what another tenant may ask of {missing}"
    leaks: list[tuple[str, str]] = []
    for rpc in rpcs:
        fields = CROSS_TENANT[rpc.name]
        if fields is None:
            continue
        request = rpc.request(**fields(a))
        if "request_id" in rpc.field_names():
            request.request_id = request_id()  # type: ignore[attr-defined]
        try:
            answer = (await rpc.call(channel, request, b.admin)).SerializeToString()
        except grpc.aio.AioRpcError as e:
            if e.code() != NOT_FOUND:
                leaks.append((rpc.name, e.code().name))
            continue
        shown = [m.decode() for m in a.markers() if m in answer]
        if shown:
            leaks.append((rpc.name, f"answered {shown}"))
    assert leaks == [], "\n".join(map(str, leaks))


async def test_profiles_audiences_models_offers_and_decisions_and_no_other_tenant_sees_them(
    services: Services, channel: grpc.aio.Channel
) -> None:
    a = await partner(services, channel)
    await make_profile(a)
    await check_profile_reads(a)
    await make_audience(a)
    await make_model(a)
    await make_decision(a)
    a.made |= {"journey": random_id("journey-"), "template": random_id("template-")}
    b = await partner(services, channel)
    await another_partner_sees_nothing(a, b, await public_rpcs(channel), channel)
    await unmerge_and_forget(a)


# A malformed request of RPCs whose empty request is valid (and has no page token to spoil).
MALFORMED: dict[str, dict[str, Any]] = {
    "GatewayService.ApplyTrackingPlan": {"plan": {"unplanned": "sometimes"}},
    "SendSettingsService.UpdateSendSettings": {"settings": {"quiet_hours": {"start": "25:99"}}},
    **{f"ProfilesService.{verb}ComputedTraits": {"request_id": "not-a-uuid"} for verb in LIFECYCLE},
}


async def test_every_rpc_refuses_a_malformed_request_naming_the_field(
    services: Services, channel: grpc.aio.Channel
) -> None:
    a = await partner(services, channel)
    wrong: list[tuple[str, str]] = []
    for rpc in await public_rpcs(channel):
        fields = rpc.field_names()
        if not fields:
            continue  # nothing in it can be malformed
        request = rpc.request(**MALFORMED.get(rpc.name, {}))
        if "page_token" in fields:
            request.page_token = "not a token"  # type: ignore[attr-defined]
        try:
            await rpc.call(channel, request, a.admin)
            wrong.append((rpc.name, "OK"))
        except grpc.aio.AioRpcError as e:
            named = [f for f in violations(e) if top_field(f) in fields]
            if e.code() != grpc.StatusCode.INVALID_ARGUMENT or not named:
                wrong.append((rpc.name, f"{e.code().name} {violations(e)} {e.details()}"))
    assert wrong == [], "\n".join(map(str, wrong))
