"""The port of a service's copies of identity's profiles (contact states, features).

A copy is merged from each change identity publishes, under the service's own rule
(the domain's `..._after(held, change, now)`); the SQLAlchemy adapter
(`store.versioned.SqlProfileCopies`) and the in-memory one (`store.memory`) keep it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ProfileCopies(ABC, Generic[T]):
    """One copy per tenant and profile."""

    @abstractmethod
    def get(self, tenant_id: str, profile_id: str) -> T | None: ...

    @abstractmethod
    def merge(self, tenant_id: str, profile_id: str, merge: Callable[[T | None], T | None]) -> bool:
        """Stores `merge(held copy or None)`, unless it is None (a repeat, or older than what
        is held); True when it wrote. An empty tenant or profile id is a ValueError."""
