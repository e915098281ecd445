"""Trains the default propensity model on synthetic data and writes it as ONNX.

`python -m services.decision.training` (or `make models`) rebuilds
`services/decision/models/propensity.onnx` byte for byte: the data, the split and
the solver are seeded, so a fresh checkout serves the same real model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FEATURES = (
    "trait_orders_30d",
    "trait_days_since_visit",
    "consent_email_marketing",
    "identifier_count",
)
DEFAULT_PATH = Path(__file__).parent / "models" / "propensity.onnx"
SEED = 20260301
ROWS = 4000


def synthetic(rows: int = ROWS, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Profiles with a known propensity: recent buyers who consented and visit often convert."""
    rng = np.random.default_rng(seed)
    orders = rng.poisson(1.5, rows).astype(np.float32)
    days = rng.exponential(20.0, rows).astype(np.float32)
    consent = (rng.random(rows) < 0.6).astype(np.float32)
    identifiers = rng.integers(1, 5, rows).astype(np.float32)
    logit = -1.0 + 0.8 * orders - 0.05 * days + 1.2 * consent + 0.2 * identifiers
    converted = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return np.column_stack([orders, days, consent, identifiers]), converted


def train_onnx(zipmap: bool = True) -> bytes:
    """A logistic regression converted with skl2onnx; `zipmap=True` keeps skl2onnx's default
    `seq(map(int64, float))` probability output, as most exported sklearn models have."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = synthetic()
    model = LogisticRegression(max_iter=500).fit(x, y)
    options = {id(model): {"zipmap": zipmap}}
    onnx_model = to_onnx(model, x[:1], options=options, target_opset=17)
    onnx_model.producer_version = ""  # keeps the bytes the same across skl2onnx patch releases
    opsets = sorted(onnx_model.opset_import, key=lambda o: o.domain)  # a set's order otherwise
    del onnx_model.opset_import[:]
    onnx_model.opset_import.extend(opsets)
    return bytes(onnx_model.SerializeToString())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.decision.training")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args()
    data = train_onnx()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes); features: {', '.join(FEATURES)}")


if __name__ == "__main__":
    main()
