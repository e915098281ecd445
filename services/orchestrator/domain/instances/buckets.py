"""A split's deterministic assignment: the same profile lands in the same path every time."""

from __future__ import annotations

import hashlib

BUCKETS = 10_000


def bucket_of(journey_id: str, step_id: str, profile_id: str) -> int:
    """A stable number in [0, BUCKETS) for this profile at this split step."""
    digest = hashlib.sha256(f"{journey_id}\x00{step_id}\x00{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def path_of(bucket: int, holdout: float, weights: list[int]) -> int:
    """The index of the path `bucket` falls in, or -1 for the holdout (the first
    `holdout` share of buckets); the rest is shared out by weight."""
    cut = round(holdout * BUCKETS)
    if bucket < cut:
        return -1
    total = sum(weights)
    if total <= 0:
        return -1
    position = (bucket - cut) * total // (BUCKETS - cut)
    for index, weight in enumerate(weights):
        if position < weight:
            return index
        position -= weight
    return len(weights) - 1
