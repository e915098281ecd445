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
from pathlib import Path
from typing import Any, TypeVar

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from services.demo.gateway import Gateway
from services.demo.person import Person
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
            self.sees_an_ad,
            self.opens_the_app,
            self.logs_in_on_both,
            self.sends_the_same_batches_again,
            self.is_forgotten,
        ]

    # -- the steps ---------------------------------------------------------------------------

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
        told.say(
            f"traits: {', '.join(sorted(profile.traits))}; consent: "
            + ", ".join(f"{k}={v.granted}" for k, v in sorted(profile.consent.items())),
            traits=dict(profile.traits),
            consent={k: v.granted for k, v in profile.consent.items()},
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

    async def _profile(self) -> ppb.Profile:
        found = await self.gateway.profile(self.profile_id)
        if found is None:
            raise StoryError(f"profile {self.profile_id} is gone")
        return found


def _accepted(result: gpb.IngestResult) -> None:
    if result.status != gpb.IngestResult.STATUS_ACCEPTED:
        status = gpb.IngestResult.Status.Name(result.status)
        raise StoryError(f"{result.message_id}: {status} {list(result.violations)}")
