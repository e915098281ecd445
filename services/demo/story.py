"""The seed's story as steps, each done through the gateway and told as it happens.

Each step acts, waits (with a deadline) until the platform shows its effect, and returns
what it saw as a `Told`: a title, lines for people (`make demo` prints them) and facts
for the e2e test to assert. The test runs the very steps the demo shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import json_format

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from services.demo import assets
from services.demo.gateway import Gateway
from services.demo.person import CHECKOUT_CONTEXT, Person
from services.demo.scan import files_holding

T = TypeVar("T")
WAIT = 60.0  # seconds a step waits for the platform to show its effect
MAILBOX = "mail"  # the local SMTP server's inbox under the state directory


class StoryError(Exception):
    """A step's effect did not show: the story stops there, saying which."""


async def until(what: str, probe: Callable[[], Awaitable[T | None]], timeout: float = WAIT) -> T:
    """Polls `probe` until it returns something truthy; StoryError naming `what` if not."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise StoryError(f"{what}: not seen within {timeout:.0f}s")
        await asyncio.sleep(0.1)


@dataclass
class Told:
    """One step, as it happened."""

    title: str
    lines: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def say(self, line: str, **facts: Any) -> None:
        self.lines.append(line)
        self.facts |= facts


@dataclass
class SeedStory:
    """The seed's story for one new person, against a running platform.

    `state_dir` is the platform's (`.layercake` for `make run`): the story reads the local
    SMTP server's inbox there and byte-scans it after the person is forgotten."""

    gateway: Gateway
    state_dir: Path
    person: Person = field(default_factory=Person.new)
    profile_id: str = ""

    def steps(self) -> list[Callable[[], Awaitable[Told]]]:
        return [
            self.publishes_the_assets,
            self.sees_an_ad,
            self.opens_the_app,
            self.logs_in_on_both,
            self.is_a_family_car_intender,
            self.gets_a_decision,
            self.reaches_the_checkout,
            self.sees_stock_return,
            self.sends_the_same_batches_again,
            self.is_forgotten,
        ]

    # -- the steps ---------------------------------------------------------------------------

    async def publishes_the_assets(self) -> Told:
        told = Told("The team publishes the story's assets through the gateway (four eyes)")
        await self.gateway.hire_crew(self.person.tag)
        told.say("an editor, an approver and an operator, each with a key the admin issued")
        g = self.gateway
        for publish in (assets.computed_traits, assets.audience, assets.catalog, assets.model):
            told.say(await publish(g))
        for template_id in assets.TEMPLATES:
            told.say(await assets.template(g, template_id))
        told.say(await assets.journey(g))
        return told

    async def sees_an_ad(self) -> Told:
        told = Told("A minivan display ad, seen by a cookie (gRPC Ingest)")
        p = self.person
        [result] = await self.gateway.ingest([p.ad_view()])
        _accepted(result)
        ref = f"cookie_id:{p.cookie_id}"
        profile = await until(ref, lambda: self.gateway.profile(ref))
        told.say(f"ingested ad_viewed for {ref}: stream sequence {result.sequence}")
        told.say(
            f"profile {profile.profile_id} (the cookie alone)", cookie_profile=profile.profile_id
        )
        return told

    async def opens_the_app(self) -> Told:
        told = Told('The app\'s "March Madness Deals" page, by device id (Segment HTTP door)')
        p = self.person
        answer = await self.gateway.segment_batch([p.app_page()])
        if answer.get("accepted") != 1:
            raise StoryError(f"the Segment door did not accept the page view: {answer}")
        ref = f"device_id:{p.device_id}"
        profile = await until(ref, lambda: self.gateway.profile(ref))
        cookie = await self.gateway.profile(f"cookie_id:{p.cookie_id}")
        told.say(f"POST /v1/batch: {answer}")
        told.say(
            f"profile {profile.profile_id} (the device alone, apart from the cookie's)",
            device_profile=profile.profile_id,
            apart=cookie is not None and cookie.profile_id != profile.profile_id,
        )
        return told

    async def logs_in_on_both(self) -> Told:
        told = Told("She logs in with her email on the web and in the app: one profile")
        p = self.person
        [result] = await self.gateway.ingest([p.web_login()])
        _accepted(result)
        answer = await self.gateway.segment_batch([p.app_login()])
        if answer.get("accepted") != 1:
            raise StoryError(f"the Segment door did not accept the app login: {answer}")

        async def one() -> ppb.Profile | None:
            found = [await self.gateway.profile(ref) for ref in p.refs()]
            ids = {f.profile_id if f else "" for f in found}
            return found[-1] if len(ids) == 1 and "" not in ids else None

        self.profile_id = (await until("cookie, device and email on one profile", one)).profile_id
        profile = await self._profile()  # read after all three resolved: the merged whole
        kinds = sorted({i.type for i in profile.identifiers})
        told.say(
            f"profile {profile.profile_id}: {', '.join(p.refs())} resolve to it",
            profile_id=profile.profile_id,
            identifier_types=kinds,
        )
        told.say(f"identifiers: {', '.join(kinds)} (email hashed with the tenant's key)")
        traits = {k: json_format.MessageToDict(v.value) for k, v in profile.traits.items()}
        consent = {k: v.granted for k, v in profile.consent.items()}
        told.say(
            f"traits: {', '.join(sorted(traits))}; consent: "
            + ", ".join(f"{k}={v}" for k, v in sorted(consent.items())),
            traits=traits,
            consent=consent,
        )
        return told

    async def is_a_family_car_intender(self) -> Told:
        told = Told('She is in the audience "family car intenders" (computed traits, CEL)')

        async def member() -> ppb.Profile | None:
            found = await self._profile()
            joined = {a.audience_id for a in found.audiences}
            return found if assets.AUDIENCE_ID in joined else None

        profile = await until(f"{self.profile_id} in {assets.AUDIENCE_ID}", member)
        computed = {
            k: json_format.MessageToDict(v.value) for k, v in profile.computed_traits.items()
        }
        told.say(
            "computed: " + ", ".join(f"{k}={_shown(v)}" for k, v in sorted(computed.items()) if v),
            computed=computed,
        )
        told.say(
            f"member of {', '.join(sorted(a.audience_id for a in profile.audiences))}",
            audiences=sorted(a.audience_id for a in profile.audiences),
        )
        return told

    async def gets_a_decision(self) -> Told:
        told = Told("At her store's checkout: water or diet soda? (the drinks model, ONNX)")
        decided = await self.gateway.decide(self.profile_id, assets.PLACEMENT, CHECKOUT_CONTEXT)
        told.say(
            f"context: {CHECKOUT_CONTEXT['weather']}, {CHECKOUT_CONTEXT['location']}",
        )
        told.say(
            f"model {decided.model_name} {decided.model_version}"
            + (" (fallback: no model served)" if decided.fallback else ""),
            model=(decided.model_name, decided.model_version, decided.fallback),
        )
        for action in decided.actions:
            told.say(
                f"#{action.rank} {action.action_id}: score {action.score:.3f} "
                f"(propensity {action.propensity:.3f} x value {action.value})"
                + (" explored" if action.explored else "")
            )
            for reason in action.reasons:
                told.say(f"    {reason}")
        told.facts["actions"] = [a.action_id for a in decided.actions]
        told.facts["reasons"] = {a.action_id: list(a.reasons) for a in decided.actions}
        return told

    async def reaches_the_checkout(self) -> Told:
        told = Told("At the checkout, her pick is out of stock at her store: the alternative mail")
        p, g = self.person, self.gateway
        level = {"water": 0, "diet_soda": 0}
        await g.set_stock(p.store_id, level)
        told.say(f"the stock system (FactsService.SetFacts): {p.store_id} has {level}")
        answer = await g.segment_batch([p.app_checkout()])
        if answer.get("accepted") != 1:
            raise StoryError(f"the Segment door did not accept the checkout: {answer}")
        told.say("the app's checkout_viewed (weather, region, shelf stock) enters the journey")
        [mail] = await until("the alternative mail in the SMTP server", lambda: self._mails(1))
        counts = await until("the journey's counts", self._counts)
        told.say(
            "journey: promote suppressed:out_of_stock "
            f"{counts.get(('promote', 'suppressed:out_of_stock'), 0)}, "
            f"alternative sent {counts.get(('other', 'sent'), 0)}",
            counts=counts,
        )
        told.say(f'mail to {mail["To"]}: "{mail["Subject"]}"', subject=mail["Subject"])
        return told

    async def sees_stock_return(self) -> Told:
        told = Told("Stock returns at her store: she is re-targeted with her pick")
        p, g = self.person, self.gateway
        level = {"water": 12, "diet_soda": 12}
        answer = await g.set_stock(p.store_id, level)
        told.say(
            f"SetFacts {p.store_id} {level}: {answer.back_in_stock_count} waiting for it released",
            released=answer.back_in_stock_count,
        )
        mails = await until("the re-targeting mail", lambda: self._mails(2))
        counts = await self._counts()
        told.say(
            f"journey: entered:back_in_stock {counts.get(('', 'entered:back_in_stock'), 0)}, "
            f"promote sent {counts.get(('promote', 'sent'), 0)}",
            counts=counts,
        )
        told.say(
            f'mail to {mails[-1]["To"]}: "{mails[-1]["Subject"]}"', subject=mails[-1]["Subject"]
        )
        return told

    async def sends_the_same_batches_again(self) -> Told:
        told = Told("The same batches again (a retrying sender): nothing changes")
        p = self.person
        before = await self._profile()
        results = await self.gateway.ingest(p.web_batch())
        answer = await self.gateway.segment_batch(p.app_batch())
        statuses = [gpb.IngestResult.Status.Name(r.status) for r in results]
        told.say(f"gRPC Ingest of the web batch: {', '.join(statuses)}", grpc_statuses=statuses)
        told.say(f"Segment batch of the app's messages: {answer}", segment_answer=answer)
        # a barrier: a later event of someone else, once visible, was consumed after hers
        journey = await self._counts()
        barrier = f"cookie_id:barrier-{p.tag}"
        marker = p.ad_view()
        marker.message_id = f"barrier-{p.tag}"
        marker.identifiers.fields["cookie_id"].string_value = f"barrier-{p.tag}"
        await self.gateway.ingest([marker])
        await until(barrier, lambda: self.gateway.profile(barrier))
        after = await self._profile()
        told.say(
            f"profile {after.profile_id} still at version {after.version}",
            version_before=before.version,
            version_after=after.version,
        )
        mails = await self._mails(0) or []
        told.say(f"her mails: still {len(mails)}", mails=len(mails))
        unchanged = journey == await self._counts()
        told.say(f"journey counts {'unchanged' if unchanged else 'changed'}", unchanged=unchanged)
        return told

    async def is_forgotten(self) -> Told:
        told = Told("She asks to be forgotten: her personal data is gone everywhere")
        p = self.person
        forgotten = await self.gateway.forget(f"email:{p.email}")
        told.say(
            f"ForgetProfile: {forgotten.profile_id} and merged-away "
            f"{', '.join(forgotten.alias_profile_ids) or 'none'}",
            forgotten=forgotten.profile_id,
            aliases=list(forgotten.alias_profile_ids),
        )

        async def gone() -> bool:
            return all([await self.gateway.profile(ref) is None for ref in p.refs()])

        await until("every lookup of her answering NOT_FOUND", gone)
        told.say(f"{', '.join(p.refs())}: NOT_FOUND")

        def holding() -> dict[str, list[str]]:
            return files_holding(self.state_dir, p.secrets(), skip=(MAILBOX,))

        async def clean() -> bool:  # erasure from INGEST is retried until it holds
            return not await asyncio.to_thread(holding)

        with contextlib.suppress(StoryError):  # told below, with the files
            await until("no byte of her email or name in the platform's files", clean)
        held = await asyncio.to_thread(holding)
        files = sum(1 for f in self.state_dir.rglob("*") if f.is_file())
        told.say(
            f"byte scan of {files} files under {self.state_dir} (databases, WAL, key store, "
            f"JetStream, logs): {held or 'clean'}",
            held=held,
        )
        return told

    # -- helpers -----------------------------------------------------------------------------

    async def _mails(self, at_least: int) -> list[Message] | None:
        """The mails the local SMTP server holds for her, oldest first, once there are
        `at_least`."""
        box = self.state_dir / MAILBOX
        found = []
        for path in sorted(box.glob("*.eml"), key=lambda f: f.stat().st_mtime):
            mail = message_from_bytes(path.read_bytes())
            if mail["To"] == self.person.email:
                found.append(mail)
        return found if len(found) >= at_least else None

    async def _counts(self) -> dict[tuple[str, str], int]:
        return await self.gateway.journey_counts(assets.JOURNEY_ID)

    async def _profile(self) -> ppb.Profile:
        found = await self.gateway.profile(self.profile_id)
        if found is None:
            raise StoryError(f"profile {self.profile_id} is gone")
        return found


def _accepted(result: gpb.IngestResult) -> None:
    if result.status != gpb.IngestResult.STATUS_ACCEPTED:
        status = gpb.IngestResult.Status.Name(result.status)
        raise StoryError(f"{result.message_id}: {status} {list(result.violations)}")


def _shown(value: Any) -> str:
    """A JSON number without a needless `.0` (counts come back as floats)."""
    return f"{value:g}" if isinstance(value, float) else str(value)
