"""How a local sink (SMTP or HTTP) names and counts what it receives, per key: a mail's
Message-ID, a webhook's send id. It keeps a repeat's content once, as a receiver deduping by
that key would, but counts every arrival in `received.json` in its directory, so whoever
checks "delivered once" (the e2e tests, an operator) sees a repeated delivery too."""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path

COUNTS = "received.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


def read_counts(directory: Path) -> dict[str, int]:
    """Arrivals per file stem a sink has counted in `directory` ({} before the first)."""
    path = directory / COUNTS
    return dict(json.loads(path.read_text())) if path.exists() else {}


class Tally:
    """One sink's arrivals per key, written through to `<directory>/received.json`."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._counts = Counter(read_counts(directory))  # a restarted sink counts on
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def arrived(self, key: str) -> tuple[str, int]:
        """Counts one arrival under `key`; returns its file stem (the key made safe for a
        file name, a fresh one when blank) and its arrivals so far (1: the first)."""
        stem = _UNSAFE.sub("_", key.strip().strip("<>"))[:200]
        with self._lock:
            if not stem:
                stem = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._numbers):06d}"
            self._counts[stem] += 1
            temporary = self.directory / f".{COUNTS}.tmp"
            temporary.write_text(json.dumps(self._counts, sort_keys=True))
            os.replace(temporary, self.directory / COUNTS)  # readers never see half a file
            return stem, self._counts[stem]

    @property
    def repeats(self) -> int:
        """Arrivals under a key that had arrived before."""
        with self._lock:
            return sum(n - 1 for n in self._counts.values())
