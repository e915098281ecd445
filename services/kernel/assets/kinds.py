"""Asset kinds and their metadata: what each kind's content is and what it must declare.

A kind names its protobuf content type, the metadata fields a version needs before it
can be submitted, and a validator hook for kind-specific rules (e.g. compiling CEL);
services register their kinds in `KINDS` at import. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields

from google.protobuf.message import Message

from services.kernel.errors import FieldViolation, Violations

KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ASSET_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
TAG = re.compile(r"^[a-z0-9][a-z0-9:._-]{0,62}$")
MAX_TAGS = 32
MAX_TEXT = {
    "display_name": 200,
    "description": 2000,
    "owner": 200,
    "team": 200,
    "support_contact": 200,
}


@dataclass(frozen=True)
class AssetMetadata:
    """Ownership of a version: who is accountable, who maintains it, whom to call."""

    display_name: str = ""
    description: str = ""
    owner: str = ""
    team: str = ""
    support_contact: str = ""
    tags: tuple[str, ...] = ()

    def violations(self, prefix: str = "metadata") -> list[FieldViolation]:
        """Format rules every kind shares; required fields are the kind's business."""
        bad = Violations()
        for name, limit in MAX_TEXT.items():
            if len(getattr(self, name)) > limit:
                bad.add(f"{prefix}.{name}", f"must be at most {limit} characters")
        if len(self.tags) > MAX_TAGS:
            bad.add(f"{prefix}.tags", f"must hold at most {MAX_TAGS} tags")
        for i, tag in enumerate(self.tags):
            if not TAG.match(tag):
                bad.add(f"{prefix}.tags[{i}]", "must be lower-case letters, digits and :._-")
        if len(set(self.tags)) != len(self.tags):
            bad.add(f"{prefix}.tags", "must not repeat a tag")
        return bad.items


METADATA_FIELDS = frozenset(f.name for f in fields(AssetMetadata))

# (asset name such as "journey abandoned-cart", content) -> the bad fields; it may also
# raise InvalidArgument (as `rules.compile_rules` does), which counts the same.
Validator = Callable[[str, Message], Iterable[FieldViolation]]


def no_rules(asset: str, content: Message) -> Iterable[FieldViolation]:
    return ()


@dataclass(frozen=True)
class AssetKind:
    """A kind of controlled asset: `journey` with `Journey` content, required metadata, rules."""

    name: str
    content_type: type[Message]
    required_metadata: frozenset[str] = field(default_factory=frozenset)
    validate: Validator = no_rules

    def __post_init__(self) -> None:
        if not KIND_NAME.match(self.name):
            raise ValueError(f"asset kind {self.name!r} must match {KIND_NAME.pattern}")
        if unknown := self.required_metadata - METADATA_FIELDS:
            raise ValueError(f"asset kind {self.name}: no metadata field {sorted(unknown)}")

    def missing_metadata(self, metadata: AssetMetadata) -> list[FieldViolation]:
        return [
            FieldViolation(f"metadata.{name}", f"is required for a {self.name}")
            for name in sorted(self.required_metadata)
            if not getattr(metadata, name)
        ]


class AssetKindRegistry:
    """Kind name -> kind; one registration per name, so a name always means one content type."""

    def __init__(self) -> None:
        self._kinds: dict[str, AssetKind] = {}

    def register(self, kind: AssetKind) -> AssetKind:
        known = self._kinds.get(kind.name)
        if known is not None and known != kind:
            raise ValueError(f"asset kind {kind.name!r} is already registered differently")
        self._kinds[kind.name] = kind
        return kind

    def get(self, name: str) -> AssetKind:
        """The kind named `name`; KeyError naming it when no service registered it."""
        try:
            return self._kinds[name]
        except KeyError:
            raise KeyError(f"no asset kind {name!r} is registered") from None

    def __contains__(self, name: object) -> bool:
        return name in self._kinds


KINDS = AssetKindRegistry()
