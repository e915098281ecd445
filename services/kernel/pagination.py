"""AIP-158 pagination, one way for every service: a page is the items after a key.

A `page_token` is the opaque (URL-safe base64) key of the last item of the previous
page; the handler asks its store for `limit + 1` items after it, and `paged` tells
from the extra one whether another page follows.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.kernel.errors import Violations

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str


def page_request(
    page_size: int, page_token: str, default: int = 100, most: int = 1000
) -> tuple[str, int]:
    """(the key to start after, how many) of a page request; INVALID_ARGUMENT naming the field."""
    bad = Violations()
    if page_size < 0:
        bad.add("page_size", "must not be negative")
    try:
        after = (
            base64.b64decode(page_token.encode(), altchars=b"-_", validate=True).decode()
            if page_token
            else ""
        )
    except (ValueError, UnicodeError):
        bad.add("page_token", "is not a token this API gave out")
        after = ""
    bad.raise_if_any()
    return after, min(page_size or default, most)


def paged(found: list[T], limit: int, key_of: Callable[[T], str]) -> Page[T]:
    """The page of `found` (up to `limit + 1` items after the token's key)."""
    if len(found) <= limit:
        return Page(found, "")
    items = found[:limit]
    return Page(items, base64.urlsafe_b64encode(key_of(items[-1]).encode()).decode())
