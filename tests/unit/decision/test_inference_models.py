"""Registered versions as the Open Inference Protocol runs them: looked up in the tenant
only, loaded once into a bounded cache, and a ZipMap output read as class columns."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pytest

from services.decision import handlers, scoring, training
from services.decision.domain.inference import TensorMeta
from services.decision.domain.models import ModelVersion
from services.decision.inference import InferenceModels
from services.decision.serving import ModelServing
from services.decision.store.memory import InMemoryDecisionUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.errors import FailedPrecondition, InvalidArgument, NotFound
from tests.unit.decision.memory_layer import MemoryLayer

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
CONTENT = training.DEFAULT_PATH.read_bytes()  # skl2onnx, ZipMap output kept


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as pool:
        yield pool


def registered(*versions: str) -> MemoryLayer:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    signature, output = scoring.inspect(CONTENT, training.FEATURES)
    digest = hashlib.sha256(CONTENT).hexdigest()
    for version in versions:
        model = ModelVersion(
            "acme",
            "propensity",
            version,
            digest,
            len(CONTENT),
            training.FEATURES,
            signature,
            output,
        )
        with InMemoryDecisionUnitOfWork(layer.db) as uow:
            handlers.register_model(uow, model, CONTENT)
    return layer


def models(layer: MemoryLayer, executor: ThreadPoolExecutor, capacity: int) -> InferenceModels:
    serving = ModelServing(cast(Any, layer), executor)
    return InferenceModels(cast(Any, layer), serving, executor, capacity)


async def test_a_version_is_loaded_once_and_the_least_recently_used_is_dropped(
    executor: ThreadPoolExecutor,
) -> None:
    layer = registered("1", "2", "3")
    oip = models(layer, executor, capacity=2)
    first = await oip.runnable("acme", "propensity", "1")
    reads = layer.reads
    assert await oip.runnable("acme", "propensity", "1") is first and layer.reads == reads
    await oip.runnable("acme", "propensity", "2")
    await oip.runnable("acme", "propensity", "1")  # used last: "2" goes first
    await oip.runnable("acme", "propensity", "3")
    reads = layer.reads
    assert await oip.runnable("acme", "propensity", "1") is first and layer.reads == reads
    await oip.runnable("acme", "propensity", "2")
    assert layer.reads == reads + 1  # read and loaded again


async def test_another_tenant_or_an_unknown_version_is_not_found(
    executor: ThreadPoolExecutor,
) -> None:
    oip = models(registered("1"), executor, capacity=2)
    for tenant, name, version in (("globex", "propensity", "1"), ("acme", "propensity", "9")):
        with pytest.raises(NotFound):
            await oip.runnable(tenant, name, version)
    with pytest.raises(NotFound):
        await oip.runnable("globex", "propensity", "")
    with pytest.raises(FailedPrecondition, match="no champion"):
        await oip.runnable("acme", "propensity", "")  # registered, never promoted
    with pytest.raises(NotFound):
        await oip.describe("globex", "propensity", "1")
    model, versions = await oip.describe("acme", "propensity", "1")
    assert model.version == "1" and versions == ["1"]


async def test_a_zipmap_output_is_read_as_class_columns(executor: ThreadPoolExecutor) -> None:
    oip = models(registered("1"), executor, capacity=2)
    model = await oip.runnable("acme", "propensity", "1")
    rows = np.array([[3, 2.5, 1, 2], [0, 40, 0, 1]], dtype=np.float32)
    outputs = [TensorMeta("output_probability", "FP32", (-1, -1))]
    (probabilities,) = await oip.run(model, {"X": rows}, outputs)
    assert probabilities.dtype == np.float32 and probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), [1.0, 1.0], rtol=1e-6)
    assert probabilities[0, 1] > probabilities[1, 1]  # the recent buyer is likelier
    with pytest.raises(InvalidArgument):  # onnxruntime refuses; the caller hears why
        await oip.run(model, {"X": rows.astype(np.float64)}, outputs)
