"""Wires the decision service: its migrations, consumers and servicer."""

from __future__ import annotations

from pathlib import Path

from services.decision.api.servicer import decision_servicer
from services.decision.consumers.profiles import profiles_consumer
from services.kernel.config import ServiceSettings
from services.kernel.runtime import App
from services.kernel.service_layer import ServiceLayer

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build(settings: ServiceSettings) -> App:
    return App(
        name="decision",
        migrations=MIGRATIONS,
        consumers=lambda ctx: [profiles_consumer()],
        servicers=lambda ctx: [decision_servicer(ServiceLayer(ctx.db, ctx.uow))],
    )
