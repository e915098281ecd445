"""Small seeded models from each converter on this machine, taking `training.FEATURES`:
LightGBM and XGBoost through onnxmltools, and a PyTorch network through torch.onnx
(committed as `fixtures/torch_propensity.onnx`: its script says how it was made, since
PyTorch is not a dependency). Each is returned with the fitted model where there is one,
so a test can compare scores with the library's own."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from services.decision import training

ROWS = 800
TORCH_ONNX = Path(__file__).parent / "fixtures" / "torch_propensity.onnx"


def _initial_types() -> list[tuple[str, Any]]:
    from onnxmltools.convert.common.data_types import FloatTensorType

    return [("features", FloatTensorType([None, len(training.FEATURES)]))]


@functools.cache
def lightgbm(zipmap: bool = False) -> tuple[bytes, Any]:
    """LightGBM by onnxmltools; with `zipmap` its probabilities are a `seq(map(...))`."""
    import lightgbm as lgb
    import onnxmltools

    x, y = training.synthetic(rows=ROWS)
    model = lgb.LGBMClassifier(
        n_estimators=20, num_leaves=8, random_state=7, deterministic=True, verbose=-1
    ).fit(x, y)
    converted = onnxmltools.convert_lightgbm(
        model, initial_types=_initial_types(), zipmap=zipmap, target_opset=15
    )
    return converted.SerializeToString(), model


@functools.cache
def xgboost() -> tuple[bytes, Any]:
    """XGBoost by onnxmltools: probabilities as a float tensor."""
    import onnxmltools
    import xgboost as xgb

    x, y = training.synthetic(rows=ROWS)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=7).fit(x, y)
    converted = onnxmltools.convert_xgboost(model, initial_types=_initial_types(), target_opset=15)
    return converted.SerializeToString(), model


def torch_onnx() -> bytes:
    """A sigmoid network exported by torch.onnx (dynamo): `probability` is [batch, 1]."""
    return TORCH_ONNX.read_bytes()
