"""A byte scan of a platform's state: which files still hold a person's personal data."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def files_holding(
    root: Path, secrets: Iterable[bytes], skip: Iterable[str] = ()
) -> dict[str, list[str]]:
    """Every file under `root` (databases with -wal and -shm, the key store, the JetStream
    store, the logs) that holds any of `secrets`, and which; `skip` names top directories
    that are not the platform's (the local SMTP server's inbox: the person's own mailbox)."""
    wanted, skipped = list(secrets), set(skip)
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if relative.parts[0] in skipped:
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # a running platform removed it meanwhile
            continue
        hits = [s.decode() for s in wanted if s in data]
        if hits:
            found[str(relative)] = hits
    return found
