"""Assets written as YAML documents: the mapping, and the metadata among its top-level keys.

Every kind that people write in YAML (journeys, templates, audiences, computed traits)
reads its document and metadata here, so errors name lines and fields the same way.
"""

from __future__ import annotations

from typing import Any

import yaml

from services.kernel.assets.kinds import AssetMetadata
from services.kernel.errors import InvalidArgument, Violations

METADATA_KEYS = ("display_name", "description", "owner", "team", "support_contact", "tags")
MAX_YAML = 256 * 1024


def load_yaml(text: str, what: str) -> dict[str, Any]:
    """The document as a mapping; INVALID_ARGUMENT naming the line for a YAML error."""
    if len(text) > MAX_YAML:
        raise InvalidArgument.field("yaml", f"must be at most {MAX_YAML} characters")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "not YAML"
        raise InvalidArgument.field("yaml", f"{problem}{where}") from None
    if not isinstance(document, dict):
        raise InvalidArgument.field("yaml", f"must be a mapping with a `{what}` key")
    return document


def metadata_from(document: dict[str, Any], bad: Violations) -> AssetMetadata:
    """The asset metadata among a document's top-level keys (owner, team, ...)."""
    values: dict[str, Any] = {}
    for key in METADATA_KEYS:
        value = document.get(key)
        if value is None:
            continue
        if key == "tags":
            if isinstance(value, list) and all(isinstance(t, str) for t in value):
                values[key] = tuple(value)
            else:
                bad.add(key, "must be a list of strings")
        elif isinstance(value, str):
            values[key] = value
        else:
            bad.add(key, "must be a string")
    return AssetMetadata(**values)
