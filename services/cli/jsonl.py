"""JSON lines of the ingest shape (DESIGN.md, "The ingest event") into IngestEvent messages.

The protobuf JSON mapping does the parsing, so the file format is exactly the
API's: unknown fields are refused, and every refusal names its line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from google.protobuf import json_format

from layercake.gateway.v1 import ingest_pb2

UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)"')


@dataclass(frozen=True)
class NumberedEvent:
    """An event and the line it came from, so a refusal can point back at the file."""

    line: int
    event: ingest_pb2.IngestEvent


class LineError(ValueError):
    """A line that is not an ingest event; `str()` reads `line 7: unknown field "foo"`."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def parse_line(text: str, line: int) -> ingest_pb2.IngestEvent:
    """One JSON object as an IngestEvent; raises LineError saying what is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise LineError(line, f"not valid JSON: {e.msg} at column {e.colno}") from e
    if not isinstance(value, dict):
        raise LineError(line, f"expected a JSON object, got {type(value).__name__}")
    try:
        return json_format.ParseDict(value, ingest_pb2.IngestEvent())
    except json_format.ParseError as e:
        message = str(e).splitlines()[0]
        unknown = UNKNOWN_FIELD.search(message)
        if unknown:
            message = f'unknown field "{unknown.group(1)}"'
        raise LineError(line, message.replace(" at IngestEvent.", " at ")) from e


def read_events(lines: Iterable[str]) -> Iterator[NumberedEvent | LineError]:
    """Each non-blank line as an event or as the error that refuses it (in file order)."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            yield NumberedEvent(number, parse_line(text, number))
        except LineError as e:
            yield e


def batches(events: Iterable[NumberedEvent], size: int) -> Iterator[list[NumberedEvent]]:
    batch: list[NumberedEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
