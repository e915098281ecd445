"""BYTES and INT64 input tensors through the gateway's Open Inference Protocol: a model with
a string and an int64 input (`tests/typed_model`), registered and promoted like any other,
answered for typed and raw contents alike (a BYTES element raw: 4-byte length, then it)."""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import pytest

from tests.conftest import random_id
from tests.integration.harness import violations
from tests.integration.inference.conftest import Stack, refused, shapes
from tests.typed_model import FEATURES, propensity, typed_model

REGIONS = [b"coast", b"north", "m\u00e4rs".encode()]  # the last one unknown to the model
VISITS = [2, 0, 5]
EXPECTED = [propensity(r.decode(), v) for r, v in zip(REGIONS, VISITS, strict=True)]


def raw_bytes(values: list[bytes]) -> bytes:
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


async def test_bytes_and_int64_inputs_typed_and_raw(stack: Stack, client: Any) -> None:
    tenant = random_id("t")
    oip = client(stack.key(tenant, "models:infer"))
    await stack.register(tenant, "visits", "1", typed_model(), FEATURES)
    await stack.promote(tenant, "visits", "1")

    meta = await oip.metadata("visits")
    assert shapes(meta.inputs) == [("region", "BYTES", [-1, 1]), ("visits", "INT64", [-1, 1])]
    assert shapes(meta.outputs) == [("label", "INT64", [-1]), ("probabilities", "FP32", [-1, 2])]

    tensor = oip.pb.ModelInferRequest.InferInputTensor
    region = tensor(name="region", datatype="BYTES", shape=[3, 1])
    region.contents.bytes_contents.extend(REGIONS)
    visits = tensor(name="visits", datatype="INT64", shape=[3, 1])
    visits.contents.int64_contents.extend(VISITS)
    answer = await oip.infer(
        oip.pb.ModelInferRequest(model_name="visits", id="typed", inputs=[region, visits])
    )
    assert (answer.model_version, answer.id) == ("1", "typed")
    label, probabilities = answer.outputs
    assert shapes(answer.outputs) == [("label", "INT64", [3]), ("probabilities", "FP32", [3, 2])]
    got = np.array(probabilities.contents.fp32_contents).reshape(3, 2)
    np.testing.assert_allclose(got[:, 1], EXPECTED, atol=1e-6)
    assert list(label.contents.int64_contents) == [int(p > 0.5) for p in EXPECTED]

    raw = oip.pb.ModelInferRequest(
        model_name="visits",
        inputs=[
            tensor(name="visits", datatype="INT64", shape=[3, 1]),  # in any order, by name
            tensor(name="region", datatype="BYTES", shape=[3, 1]),
        ],
        outputs=[oip.pb.ModelInferRequest.InferRequestedOutputTensor(name="probabilities")],
        raw_input_contents=[np.asarray(VISITS, "<i8").tobytes(), raw_bytes(REGIONS)],
    )
    [content] = (await oip.infer(raw)).raw_output_contents
    np.testing.assert_allclose(
        np.frombuffer(content, "<f4").reshape(3, 2)[:, 1], EXPECTED, atol=1e-6
    )

    floats = oip.fp32("visits", np.asarray([[2.0], [0.0], [5.0]], dtype=np.float32))
    mistyped = await refused(
        oip.infer(oip.pb.ModelInferRequest(model_name="visits", inputs=[region, floats]))
    )
    assert mistyped.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(mistyped) == ["inputs[1].datatype"]
    assert "'visits' is INT64" in (mistyped.details() or "")
    latin = tensor(name="region", datatype="BYTES", shape=[1, 1])
    latin.contents.bytes_contents.append("m\u00e4rs".encode("latin-1"))
    one = tensor(name="visits", datatype="INT64", shape=[1, 1])
    one.contents.int64_contents.append(1)
    not_text = await refused(
        oip.infer(oip.pb.ModelInferRequest(model_name="visits", inputs=[latin, one]))
    )
    assert not_text.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not UTF-8" in (not_text.details() or "")


@pytest.mark.parametrize("count", [2, 4])
async def test_raw_bytes_of_another_count_are_refused(
    stack: Stack, client: Any, count: int
) -> None:
    tenant = random_id("t")
    oip = client(stack.key(tenant, "models:infer"))
    await stack.register(tenant, "visits", "1", typed_model(), FEATURES)
    tensor = oip.pb.ModelInferRequest.InferInputTensor
    request = oip.pb.ModelInferRequest(
        model_name="visits",
        model_version="1",
        inputs=[
            tensor(name="region", datatype="BYTES", shape=[3, 1]),
            tensor(name="visits", datatype="INT64", shape=[3, 1]),
        ],
        raw_input_contents=[raw_bytes([b"coast"] * count), np.asarray(VISITS, "<i8").tobytes()],
    )
    bad = await refused(oip.infer(request))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(bad) == ["inputs[0].shape"]
