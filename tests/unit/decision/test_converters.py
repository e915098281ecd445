"""Models from every converter on this machine register (their signature read and checked
against the declared features) and score the positive class as the library that trained
them predicts: LightGBM with and without ZipMap and XGBoost (onnxmltools), a PyTorch
network (torch.onnx); skl2onnx's are in test_models."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from services.decision import scoring, training
from services.decision.scoring import LoadedModel
from tests import converted_models

FEATURES = training.FEATURES
X, _ = training.synthetic(rows=40, seed=11)
ROWS = [dict(zip(FEATURES, map(float, row), strict=True)) for row in X]


def loaded(content: bytes) -> LoadedModel:
    signature, output = scoring.inspect(content, FEATURES)
    return scoring.load("v", content, FEATURES, signature, output)


@pytest.mark.parametrize("zipmap", [True, False])
def test_lightgbm_scores_as_lightgbm_predicts(zipmap: bool) -> None:
    content, model = converted_models.lightgbm(zipmap)
    found = loaded(content)
    kind = "seq(map(int64,tensor(float)))" if zipmap else "tensor(float)"
    assert [o.type for o in found.signature.outputs if o.name == found.score_output] == [kind]
    assert found.score(ROWS) == pytest.approx(model.predict_proba(X)[:, 1].tolist(), abs=1e-5)


def test_xgboost_scores_as_xgboost_predicts() -> None:
    content, model = converted_models.xgboost()
    found = loaded(content)
    assert found.score_output == "probabilities"
    assert found.score(ROWS) == pytest.approx(model.predict_proba(X)[:, 1].tolist(), abs=1e-5)


def test_a_torch_onnx_export_scores_its_sigmoid() -> None:
    content = converted_models.torch_onnx()
    assert onnx.load_from_string(content).producer_name == "pytorch"
    found = loaded(content)
    assert [(i.name, i.shape) for i in found.signature.inputs] == [("features", (-1, 4))]
    assert found.score_output == "probability"
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    (expected,) = session.run(["probability"], {"features": X})
    assert found.score(ROWS) == pytest.approx(expected[:, 0].tolist(), abs=1e-6)
    orders = [{"trait_orders_30d": float(n), "consent_email_marketing": 1.0} for n in range(6)]
    scores = found.score(orders)
    assert scores == sorted(scores) and scores[-1] - scores[0] > 0.3  # more orders, likelier
    assert np.isfinite(scores).all()
