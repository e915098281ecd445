"""The kernel's revisions: they create exactly `store/schema.py`, and events written
before `kernel_0002_event_schema` stay readable with a typed actor."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from services.kernel.principals import Actor, PrincipalKind
from services.kernel.store.database import Database
from services.kernel.store.event_store import EventStore
from services.kernel.store.migrate import migrate
from services.kernel.store.schema import metadata
from tests.conftest import migrated_database
from tests.integration.harness import schema_drift

at_kernel_0001 = migrated_database(None, target="kernel_0001")


def test_the_kernel_revisions_create_exactly_the_schema_module(database: Database) -> None:
    assert schema_drift(database, metadata) == []


def test_old_actor_strings_become_typed_actors(at_kernel_0001: Database) -> None:
    old = ["ingest", "person:ann", "system:identity", "api_key:k1", "", "person:"]
    with at_kernel_0001.transaction() as s:
        for version, actor in enumerate(old, start=1):
            s.execute(
                text(
                    "INSERT INTO events (stream_id, version, event_id, type, payload, tenant_id,"
                    " actor, causation_id, correlation_id, traceparent, recorded_time)"
                    " VALUES ('s-1', :v, :id, 't', :p, 'acme', :a, '', '', '', :at)"
                ),
                {"v": version, "id": f"e{version}", "p": b"x", "a": actor, "at": datetime.now(UTC)},
            )

    migrate(at_kernel_0001.engine)

    with at_kernel_0001.transaction() as s:
        loaded = EventStore(s).load("s-1")
    assert [e.metadata.actor for e in loaded] == [
        Actor.system("ingest"),
        Actor("ann", PrincipalKind.PERSON),
        Actor.system("identity"),
        Actor.system("api_key:k1"),
        Actor.system("unknown"),
        Actor.system("person:"),
    ]
    assert {e.schema_version for e in loaded} == {1}
    assert schema_drift(at_kernel_0001, metadata) == []
