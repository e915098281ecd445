"""Journey definitions: YAML or protobuf JSON in, a validated `Journey` message inside.

`reading` turns YAML into the message (keys, types, durations); `validation` checks what
makes it runnable (targets, reachability, cycles, splits, CEL). Pure: no I/O.
"""

from services.orchestrator.domain.journeys.reading import read_journey
from services.orchestrator.domain.journeys.validation import validate_journey

__all__ = ["read_journey", "validate_journey"]
