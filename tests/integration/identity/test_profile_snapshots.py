"""A long profile stream loads from its snapshot plus the tail, equal to a full replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from services.identity.domain.identifiers import Identifier
from services.identity.domain.profile import Profile, stream_id
from services.identity.mapping import EVENTS
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.snapshot import PROFILE_STATE
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.principals import Actor
from services.kernel.store.database import Database
from services.kernel.store.limits import StoreLimits
from services.kernel.store.records import EventMetadata
from services.kernel.store.schema import snapshots
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.identity.conftest import identity_units

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
META = EventMetadata("acme", Actor.system("test"))


def full_replay(uow: SqlIdentityUnitOfWork, profile_id: str) -> Profile:
    stored = uow.events.load(stream_id(profile_id))
    cipher = uow.vault.cipher("acme", profile_id)
    return Profile.replay([EVENTS.decode(e, cipher) for e in stored], stored[-1].version)


def snapshotting(
    db: Database, keys: SqlProfileKeys, every: int
) -> UnitOfWorkFactory[SqlIdentityUnitOfWork]:
    return identity_units(db, keys, StoreLimits(snapshot_every=every))


def test_snapshot_plus_tail_equals_a_full_replay(
    identity_db: Database, identity_keys: SqlProfileKeys
) -> None:
    units = snapshotting(identity_db, identity_keys, every=10)
    profile_id = random_id("p-")
    with units() as uow:
        repo = uow.profiles
        profile = Profile.create("acme", profile_id, AT)
        profile.link([Identifier("email", "ab" * 32, True)], AT, "m-0")
        repo.save(profile, META)
        for i in range(23):  # one event per save: versions 3..25, snapshots at 10 and 20
            at = AT + timedelta(minutes=i)
            if i % 3:
                profile.set_traits({"visits": str(i), "plan": f'"p{i % 4}"'}, at, f"m-{i}")
            else:
                profile.set_consent({"analytics": i % 2 == 0}, at)
            repo.save(profile, META)
        uow.commit()
    assert profile.version == 25

    with units() as uow:
        snapshot = uow.snapshots.load(stream_id(profile_id))
        assert snapshot is not None and snapshot.version == 20
        assert b"visits" not in snapshot.state  # sealed like the events it stands for
        resumed = uow.snapshots.resume(stream_id(profile_id), PROFILE_STATE, None)
        assert resumed.aggregate is None  # without the key it cannot be read
        loaded = uow.profiles.get("acme", profile_id)
        assert loaded == full_replay(uow, profile_id) == profile
        assert len(uow.events.load(stream_id(profile_id), after_version=20)) == 5


def test_a_snapshot_of_an_older_shape_is_ignored(
    identity_db: Database, identity_keys: SqlProfileKeys
) -> None:
    units = snapshotting(identity_db, identity_keys, every=2)
    profile_id = random_id("p-")
    stream = stream_id(profile_id)
    with units() as uow:
        profile = Profile.create("acme", profile_id, AT)
        profile.set_traits({"visits": "1"}, AT)
        uow.profiles.save(profile, META)
        uow.commit()
    with units() as uow:
        cipher = uow.vault.cipher("acme", profile_id)
        assert uow.snapshots.resume(stream, PROFILE_STATE, cipher).version == 2
        older = update(snapshots).where(snapshots.c.stream_id == stream)
        uow.session.execute(older.values(schema_version=PROFILE_STATE.version - 1))
        assert uow.snapshots.resume(stream, PROFILE_STATE, cipher).aggregate is None
        assert uow.profiles.get("acme", profile_id) == full_replay(uow, profile_id)
