"""The orchestrator's controlled assets: journeys and templates, on the kernel's lifecycle.

Registered in the kernel's `KINDS` at import, with the metadata a version needs before it
is submitted and the validator that runs whenever a draft is saved. Pure: no I/O.
"""

from __future__ import annotations

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.assets import KINDS, AssetKind
from services.orchestrator.domain.journeys import validate_journey
from services.orchestrator.domain.templates import validate_template

JOURNEY = KINDS.register(
    AssetKind(
        "journey",
        pb.Journey,
        required_metadata=frozenset({"owner", "description"}),
        validate=validate_journey,
    )
)
TEMPLATE = KINDS.register(
    AssetKind(
        "template",
        pb.Template,
        required_metadata=frozenset({"owner"}),
        validate=validate_template,
    )
)
