"""Trains the default models on synthetic data and writes them as ONNX; retrains a
placement's model on the decision log's training table.

`python -m services.decision.training` (or `make models`) rebuilds
`services/decision/models/propensity.onnx` and `drinks.onnx` byte for byte: the data, the
split and the solvers are seeded, so a fresh checkout serves the same real models. The
drinks model's rows are built by the example placement's feature transforms
(`examples/drinks.yaml`), the same code `Decide` builds its rows with.

`python -m services.decision.training --from-table training.parquet --out drinks-2.onnx`
retrains the drinks model (`--catalog` for another placement) on what `export-training`
wrote: the columns Decide built, the labels outcomes gave; register the file as a new
version and promote it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from services.decision import catalog
from services.decision.domain.arbitration import Placement
from services.decision.domain.transforms import record

FEATURES = (
    "trait_orders_30d",
    "trait_days_since_visit",
    "consent_email_marketing",
    "identifier_count",
)
DEFAULT_PATH = Path(__file__).parent / "models" / "propensity.onnx"
DRINKS_EXAMPLE = Path(__file__).parent / "examples" / "drinks.yaml"
DRINKS_PATH = DEFAULT_PATH.with_name("drinks.onnx")
DRINKS_ROWS = 6000
REGIONS = ("north", "south", "coast")
PRODUCTS = ("water", "diet_soda")
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
    from sklearn.linear_model import LogisticRegression

    x, y = synthetic()
    return to_onnx_bytes(LogisticRegression(max_iter=500).fit(x, y), x, zipmap)


def drinks_placement() -> Placement:
    return catalog.placement_of(catalog.read_catalog(DRINKS_EXAMPLE.read_text()).placement)


def drinks_synthetic(
    placement: Placement, rows: int = DRINKS_ROWS, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """People offered water or diet soda: water sells when it is hot (more on the coast),
    diet soda to soda drinkers and the sugar-conscious, less so in the heat. Each row is
    built from a (features, context, action) record by the placement's transforms."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for _ in range(rows):
        age = float(rng.integers(16, 70))
        sugar_free = float(rng.random() < 0.4)
        sodas = float(rng.poisson(1.2))
        temperature = float(rng.normal(20.0, 8.0))
        region = REGIONS[int(rng.integers(len(REGIONS)))]
        product = PRODUCTS[int(rng.integers(len(PRODUCTS)))]
        if product == "water":
            logit = -1.2 + 0.15 * (temperature - 20) + (0.4 if region == "coast" else 0.0)
        else:
            logit = -0.6 + 0.5 * sodas + 0.8 * sugar_free - 0.05 * (temperature - 20)
            logit -= 0.02 * (age - 35)
        features = {"trait_age": age, "trait_prefers_sugar_free": sugar_free}
        features["trait_sodas_30d"] = sodas
        context = {"weather": {"temperature_c": temperature}, "location": {"region": region}}
        row = placement.features.row(record(features, context, product, 1.0, {"product": product}))
        x.append([row[c] for c in placement.features.columns])
        y.append(int(rng.random() < 1.0 / (1.0 + np.exp(-logit))))
    return np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)


def train_drinks() -> bytes:
    """Gradient-boosted trees (interactions: the product with the weather and the person)."""
    return _boosted_trees(*drinks_synthetic(drinks_placement()))


def _boosted_trees(x: np.ndarray, y: np.ndarray) -> bytes:
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=SEED)
    return to_onnx_bytes(model.fit(x, y), x, zipmap=False)


def table_rows(path: Path, placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """The placement's rows of an exported training table (CSV or Parquet): its columns
    (`feature:<column>`; 0 where a row lacks one, as serving counts it) and the labels.
    ValueError for a column of text: retraining takes numbers."""
    import pyarrow.csv
    import pyarrow.parquet

    if path.suffix == ".parquet":
        table = pyarrow.parquet.read_table(path)
    else:
        table = pyarrow.csv.read_csv(path)
    rows = [r for r in table.to_pylist() if r["placement"] == placement.placement_id]
    x = []
    for r in rows:
        cells = [r.get(f"feature:{c}") for c in placement.features.columns]
        if any(isinstance(c, str) for c in cells):
            raise ValueError("the table holds text columns; retraining takes numbers only")
        x.append([0.0 if c is None else float(c) for c in cells])
    y = [int(r["label"]) for r in rows]
    return np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)


def retrain(path: Path, placement: Placement) -> bytes:
    """The placement's model trained on the table's rows; ValueError unless they hold both
    a positive and a negative outcome."""
    x, y = table_rows(path, placement)
    if len(set(y.tolist())) < 2:
        raise ValueError(
            f"{len(y)} rows of placement {placement.placement_id!r}: retraining needs"
            " positive and negative labels"
        )
    return _boosted_trees(x, y)


def to_onnx_bytes(model: object, x: np.ndarray, zipmap: bool) -> bytes:
    """The fitted model as ONNX bytes that do not change between runs."""
    from skl2onnx import to_onnx

    options = {id(model): {"zipmap": zipmap}}
    onnx_model = to_onnx(model, x[:1], options=options, target_opset=17)
    onnx_model.producer_version = ""  # keeps the bytes the same across skl2onnx patch releases
    opsets = sorted(onnx_model.opset_import, key=lambda o: o.domain)  # a set's order otherwise
    del onnx_model.opset_import[:]
    onnx_model.opset_import.extend(opsets)
    return bytes(onnx_model.SerializeToString())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.decision.training")
    parser.add_argument("--out", type=Path, help=f"the model file (default {DEFAULT_PATH})")
    parser.add_argument("--drinks-out", type=Path, default=DRINKS_PATH)
    parser.add_argument("--from-table", type=Path, help="retrain on an exported training table")
    parser.add_argument("--catalog", type=Path, default=DRINKS_EXAMPLE, help="its placement")
    args = parser.parse_args()
    if args.from_table is not None:
        if args.out is None:
            parser.error("--from-table needs --out: the new version's file")
        placement = catalog.placement_of(catalog.read_catalog(args.catalog.read_text()).placement)
        try:
            written = [(args.out, retrain(args.from_table, placement), placement.features.columns)]
        except ValueError as e:
            parser.exit(2, f"cannot retrain: {e}\n")
    else:
        written = [
            (args.out or DEFAULT_PATH, train_onnx(), FEATURES),
            (args.drinks_out, train_drinks(), drinks_placement().features.columns),
        ]
    for path, data, features in written:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path} ({len(data)} bytes); features: {','.join(features)}")


if __name__ == "__main__":
    main()
