"""Identity's unit of work, in memory and on SQLite/PostgreSQL: the kernel's promises, and
those of its repositories (profiles and their read model, the vault, tenant keys)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.identity.bootstrap import MIGRATIONS
from services.identity.domain.computed_traits import Aggregation
from services.identity.domain.identifiers import Identifier
from services.identity.domain.profile import Profile
from services.identity.domain.windows import Window
from services.identity.ports import IdentityUnitOfWork, Published, StoredWindow, StreamMessage
from services.identity.store.audiences import AudienceProjection
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.memory import IdentityState, InMemoryIdentityUnitOfWork
from services.identity.store.projection import ProfileProjection
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.errors import ConcurrencyError
from services.kernel.principals import Actor
from services.kernel.store.records import EventMetadata
from services.kernel.unit_of_work import AbstractUnitOfWork
from tests.conftest import ALL_BACKENDS, random_id
from tests.contracts.unit_of_work import UnitOfWorkContract, Units, units_for

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)
META = EventMetadata("acme", Actor.system("contract"))
D1, D2, E = (
    Identifier("device_id", "d1"),
    Identifier("device_id", "d2"),
    Identifier("email", "ab", True),
)


def identity(uow: AbstractUnitOfWork) -> IdentityUnitOfWork:
    assert isinstance(uow, IdentityUnitOfWork)
    return uow


def new_profile(tenant: str, *ids: Identifier, at: datetime = AT, **traits: str) -> Profile:
    profile = Profile.create(tenant, random_id("p-"), at)
    profile.link(ids, at, "m-1")
    profile.set_traits(traits, at, "m-1")
    profile.set_consent({"email_marketing": True}, at)
    return profile


class TestIdentityUnitOfWork(UnitOfWorkContract):
    @pytest.fixture(params=ALL_BACKENDS)
    def units(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Units]:
        keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'identity-keys.db'}")
        with units_for(
            request.param,
            tmp_path,
            MIGRATIONS,
            SqlIdentityUnitOfWork.with_keys(keys),
            InMemoryIdentityUnitOfWork,
            IdentityState,
            [ProfileProjection(keys), AudienceProjection()],
        ) as units:
            yield units
        keys.close()

    def test_a_saved_profile_loads_back_and_is_found_by_id_and_identifier(
        self, units: Units
    ) -> None:
        profile = new_profile("acme", D1, E, plan='"gold"')
        with units.new() as u:
            identity(u).profiles.save(profile, META)
            u.commit()
        with units.new() as u:
            profiles = identity(u).profiles
            assert profiles.get("acme", profile.profile_id) == profile
            found = profiles.find("acme", E)
            assert found == profiles.find("acme", profile.profile_id)
            assert profiles.owners("acme", [D1, D2, E]) == {
                D1: profile.profile_id,
                E: profile.profile_id,
            }
        assert found is not None and found.version == profile.version == 4
        assert found.identifiers == {D1, E} and found.links[D1].message_id == "m-1"
        assert found.traits == profile.traits and found.consent == {"email_marketing": True}
        assert (found.create_time, found.update_time) == (AT, AT)

    def test_another_tenant_sees_none_of_it(self, units: Units) -> None:
        profile = new_profile("acme", D1)
        with units.new() as u:
            identity(u).profiles.save(profile, META)
            u.commit()
        with units.new() as u:
            profiles = identity(u).profiles
            assert profiles.owners("other", [D1]) == {}
            assert profiles.find("other", D1) is None
            assert profiles.find("other", profile.profile_id) is None

    def test_nothing_of_a_profile_is_kept_without_commit(self, units: Units) -> None:
        profile = new_profile("acme", D1)
        with units.new() as u:
            identity(u).profiles.save(profile, META)
        with units.new() as u:
            profiles = identity(u).profiles
            assert profiles.owners("acme", [D1]) == {} and profiles.find("acme", D1) is None
            with pytest.raises(LookupError):
                profiles.get("acme", profile.profile_id)

    def test_a_merged_away_id_answers_the_survivor_which_owns_every_identifier(
        self, units: Units
    ) -> None:
        survivor, gone = new_profile("acme", D1), new_profile("acme", D2, at=AT + timedelta(1))
        with units.new() as u:
            identity(u).profiles.save(survivor, META)
            identity(u).profiles.save(gone, META)
            later = AT + timedelta(2)
            survivor.absorb(gone, later, "m-2")
            gone.merge_into(survivor.profile_id, later, "m-2")
            identity(u).profiles.save(gone, META)
            identity(u).profiles.save(survivor, META)
            u.commit()
        with units.new() as u:
            profiles = identity(u).profiles
            assert profiles.owners("acme", [D1, D2]) == dict.fromkeys([D1, D2], survivor.profile_id)
            found = profiles.find("acme", gone.profile_id)
            assert found is not None and found.profile_id == survivor.profile_id
            assert found.identifiers == {D1, D2} and found.merged_into is None
            assert profiles.get("acme", gone.profile_id).merged_into == survivor.profile_id

    def test_a_stale_save_is_a_concurrency_error(self, units: Units) -> None:
        profile = new_profile("acme", D1)
        with units.new() as u:
            identity(u).profiles.save(profile, META)
            u.commit()
        with units.new() as u:
            stale = identity(u).profiles.get("acme", profile.profile_id)
            profile.set_traits({"plan": '"free"'}, AT, "m-2")
            identity(u).profiles.save(profile, META)
            stale.set_traits({"plan": '"gold"'}, AT, "m-3")
            with pytest.raises(ConcurrencyError):
                identity(u).profiles.save(stale, META)
                u.flush()  # appends are written behind: the conflict shows at the flush

    def test_a_profile_without_its_key_cannot_be_saved_again(self, units: Units) -> None:
        profile = Profile.create("acme", random_id("p-"), AT)
        profile.saved()  # as if its stream were written and its key since deleted
        profile.set_traits({"plan": '"gold"'}, AT)
        with units.new() as u, pytest.raises(LookupError):
            identity(u).profiles.save(profile, META)

    def test_a_profile_key_seals_what_only_it_opens(self, units: Units) -> None:
        with units.new() as u:
            sealer = identity(u).vault.create_key("acme", "p-1", AT)
            sealed = sealer.seal("Ann")
            u.commit()
        with units.new() as u:
            vault = identity(u).vault
            cipher = vault.cipher("acme", "p-1")
            assert cipher is not None and cipher.open(sealed) == "Ann" and b"Ann" not in sealed
            assert vault.cipher("acme", "p-2") is None and vault.cipher("other", "p-1") is None

    def test_a_tenant_key_is_made_once_and_differs_between_tenants(self, units: Units) -> None:
        with units.new() as u:
            keys = identity(u).tenant_keys
            assert keys.existing("acme") is None
            digest = keys.hasher("acme", AT)("ann@example.com")
            assert keys.hasher("acme", AT)("ann@example.com") == digest
            other = keys.hasher("other", AT)("ann@example.com")
            u.commit()
        with units.new() as u:
            existing = identity(u).tenant_keys.existing("acme")
            assert existing is not None and existing("ann@example.com") == digest != other
            assert "ann" not in digest

    def test_windows_round_trip_and_an_empty_one_is_dropped(self, units: Units) -> None:
        window = Window.empty(timedelta(days=30))
        window.add(AT, 12.5, Aggregation.SUM, AT, timedelta(days=30))
        window.add(AT + timedelta(days=1), 1, Aggregation.SUM, AT, timedelta(days=30))
        with units.new() as u:
            windows = identity(u).computed_windows
            windows.put("acme", "p1", "spend", StoredWindow("f1", window), AT)
            windows.put("acme", "p1", "count", StoredWindow("f2", window), None)
            windows.put("other", "p1", "spend", StoredWindow("f1", window), AT)
            u.commit()
        with units.new() as u:
            windows = identity(u).computed_windows
            assert windows.get("acme", "p1", "spend") == StoredWindow("f1", window)
            assert sorted(windows.of_profile("acme", "p1")) == ["count", "spend"]
            windows.put("acme", "p1", "count", StoredWindow("f2", Window.empty(window.width)), None)
            windows.delete("acme", "p1", "spend")
            u.commit()
        with units.new() as u:
            assert identity(u).computed_windows.of_profile("acme", "p1") == {}
            assert identity(u).computed_windows.get("other", "p1", "spend") is not None

    def test_audience_members_follow_the_profiles_entries_and_exits(self, units: Units) -> None:
        profiles = [new_profile("acme") for _ in range(3)]
        for p in profiles:
            p.enter("buyers", 1, AT)
        profiles[0].enter("other", 2, AT)
        with units.new() as u:
            for p in profiles:
                identity(u).profiles.save(p, META)
            u.commit()
        ids = sorted(p.profile_id for p in profiles)
        with units.new() as u:
            members = identity(u).audience_members
            assert [m.profile_id for m in members.page("acme", "buyers", "", 10)] == ids
            assert [m.profile_id for m in members.page("acme", "buyers", ids[0], 1)] == ids[1:2]
            assert members.size("acme", "buyers") == 3 and members.size("other", "buyers") == 0
            assert members.page("acme", "buyers", "", 1)[0].enter_time == AT
        leaving = next(p for p in profiles if p.profile_id == ids[1])
        leaving.exit("buyers", 1, AT)
        with units.new() as u:
            identity(u).profiles.save(leaving, META)
            u.commit()
        with units.new() as u:
            members = identity(u).audience_members
            assert [m.profile_id for m in members.page("acme", "buyers", "", 10)] == [
                ids[0],
                ids[2],
            ]
            assert members.size("acme", "buyers") == 2
            assert identity(u).profiles.live_ids("acme", "", 10) == ids
            assert identity(u).profiles.live_ids("acme", ids[0], 1) == ids[1:2]

    def test_deleted_keys_open_nothing_any_more(self, units: Units) -> None:
        with units.new() as u:
            identity(u).vault.create_key("acme", "p-1", AT)
            identity(u).vault.create_key("acme", "p-2", AT)
            u.commit()
        with units.new() as u:
            assert identity(u).vault.delete_keys("acme", ["p-1", "p-3"]) == 1
            u.commit()
        with units.new() as u:
            vault = identity(u).vault
            assert vault.cipher("acme", "p-1") is None and vault.cipher("acme", "p-2") is not None

    def test_a_forgotten_profile_leaves_the_read_model_and_its_digests_suppress(
        self, units: Units
    ) -> None:
        kept = new_profile("acme", D2)
        profile = new_profile("acme", D1, E, first_name='"Ann"')
        with units.new() as u:
            identity(u).profiles.save(kept, META)
            identity(u).profiles.save(profile, META)
            profile.forget([], ["digest-1"], AT, "r-1")
            identity(u).profiles.save(profile, META)
            u.commit()
        with units.new() as u:
            profiles, forgetting = identity(u).profiles, identity(u).forgetting
            assert profiles.find("acme", profile.profile_id) is None
            assert profiles.find("acme", D1) is None and profiles.owners("acme", [D1, E]) == {}
            assert profiles.find("acme", D2) is not None
            assert profiles.get("acme", profile.profile_id).forgotten
            assert forgetting.suppressed("acme", ["x", "digest-1"])
            assert not forgetting.suppressed("other", ["digest-1"])
            assert not forgetting.suppressed("acme", [])

    def test_the_messages_of_forgotten_profiles_are_queued_for_erasure_once(
        self, units: Units
    ) -> None:
        with units.new() as u:
            forgetting = identity(u).forgetting
            forgetting.record_message("acme", "p-1", 7)
            forgetting.record_message("acme", "p-1", 7)  # redelivered
            forgetting.record_message("acme", "p-2", 3)
            forgetting.record_message("acme", "p-3", 9)
            forgetting.record_message("other", "p-1", 11)
            published = [
                Published("acme", "p-1", "IDENTITY", 7),  # same sequence, another stream
                Published("acme", "p-1", "IDENTITY", 7),  # relayed twice (replicas)
                Published("acme", "p-3", "IDENTITY", 8),
                Published("other", "p-2", "IDENTITY", 5),
            ]
            forgetting.record_published(published, AT)
            forgetting.suppress_message("acme", "m-1", "forgotten", AT)
            forgetting.erase_message("acme", 12, AT)
            assert forgetting.erase_messages_of("acme", ["p-1", "p-2"], AT) == 3
            assert forgetting.erase_messages_of("acme", ["p-1", "p-2"], AT) == 0
            u.commit()
        with units.new() as u:
            forgetting = identity(u).forgetting
            assert forgetting.pending_erasures(10) == [
                ("IDENTITY", 7), ("INGEST", 3), ("INGEST", 7), ("INGEST", 12)
            ]  # fmt: skip
            assert forgetting.pending_erasures(2) == [("IDENTITY", 7), ("INGEST", 3)]
            forgetting.erased([StreamMessage("INGEST", 3), StreamMessage("INGEST", 12)])
            # relayed after the forget (in flight meanwhile): queued at once, not recorded
            forgetting.record_published([Published("acme", "p-2", "IDENTITY", 20)], AT)
            forgetting.record_published([Published("acme", "p-9", "IDENTITY", 21)], AT)
            u.commit()
        with units.new() as u:
            assert identity(u).forgetting.pending_erasures(10) == [
                ("IDENTITY", 7), ("IDENTITY", 20), ("INGEST", 7)
            ]  # fmt: skip
            assert identity(u).forgetting.erase_messages_of("acme", ["p-3", "p-9"], AT) == 3
            forgotten = identity(u).forgetting.forgotten_among("acme", ["p-1", "p-4", "p-9"])
            assert forgotten == {"p-1", "p-9"}
            assert identity(u).forgetting.forgotten_among("other", ["p-1"]) == set()

    def test_a_split_off_profile_shares_the_messages_recorded_before(self, units: Units) -> None:
        with units.new() as u:
            forgetting = identity(u).forgetting
            forgetting.record_message("acme", "p-1", 4)
            forgetting.record_message("acme", "p-2", 5)  # merged into p-1
            forgetting.record_published([Published("acme", "p-1", "IDENTITY", 6)], AT)
            forgetting.record_message("acme", "p-3", 7)
            forgetting.split_off("acme", ["p-1", "p-2"], "p-9")
            assert forgetting.split_from("acme", ["p-9", "p-3"]) == {"p-1", "p-2"}
            assert forgetting.split_from("other", ["p-9"]) == set()
            assert forgetting.erase_messages_of("acme", ["p-9"], AT) == 3
            u.commit()
        with units.new() as u:
            assert identity(u).forgetting.pending_erasures(10) == [
                ("IDENTITY", 6), ("INGEST", 4), ("INGEST", 5)
            ]  # fmt: skip
            assert identity(u).forgetting.erase_messages_of("acme", ["p-1"], AT) == 2

    def test_a_dead_letter_sweep_asked_for_again_meanwhile_stays_pending(
        self, units: Units
    ) -> None:
        later = AT + timedelta(seconds=1)
        with units.new() as u:
            identity(u).forgetting.sweep_dead_letters("acme", AT)
            identity(u).forgetting.sweep_dead_letters("other", AT)
            u.commit()
        with units.new() as u:
            forgetting = identity(u).forgetting
            sweeps = forgetting.pending_sweeps(10)
            assert sweeps == [("acme", AT), ("other", AT)]
            forgetting.sweep_dead_letters("acme", later)  # another forget while it ran
            forgetting.swept(sweeps[0], [9, 4], AT)
            forgetting.swept(sweeps[1], [], AT)
            u.commit()
        with units.new() as u:
            assert identity(u).forgetting.pending_sweeps(10) == [("acme", later)]
            assert identity(u).forgetting.pending_erasures(10) == [
                ("DEADLETTER", 4), ("DEADLETTER", 9)
            ]  # fmt: skip
