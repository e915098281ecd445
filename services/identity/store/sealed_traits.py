"""Trait values as the `profiles` read model keeps them: personal ones only sealed.

`{"plan": {"v": "\\"gold\\"", "t": iso}, "first_name": {"s": base64, "t": iso}}`: a
personal value is sealed with the profile's own key, so deleting the key is enough
to forget it here too, and the database file and its WAL never hold it in clear.
Opening goes through the profile's cipher, which remembers what it opened.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime

from services.identity.domain.events import TraitValue
from services.identity.domain.personal_data import Sealer, is_personal

Stored = dict[str, str]


def stored(traits: Mapping[str, TraitValue], sealer: Sealer | None) -> dict[str, Stored]:
    """The traits as stored; ValueError for a personal one without a key to seal it."""
    rows: dict[str, Stored] = {}
    for name, trait in traits.items():
        at = trait.set_time.isoformat()
        if not is_personal(name):
            rows[name] = {"v": trait.json_value, "t": at}
        elif sealer is None:
            raise ValueError("personal traits are stored only sealed: the profile has no key")
        else:
            sealed = base64.b64encode(sealer.seal(trait.json_value)).decode()
            rows[name] = {"s": sealed, "t": at}
    return rows


def opened(rows: Mapping[str, Stored], sealer: Sealer | None) -> dict[str, TraitValue]:
    """The traits as read; without the key (the person was forgotten) sealed ones are gone."""
    traits: dict[str, TraitValue] = {}
    for name, row in rows.items():
        at = datetime.fromisoformat(row["t"])
        if "v" in row:
            traits[name] = TraitValue(row["v"], at)
        elif sealer is not None:
            traits[name] = TraitValue(sealer.open(base64.b64decode(row["s"])), at)
    return traits
