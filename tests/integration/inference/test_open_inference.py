"""The Open Inference Protocol (KServe v2 gRPC) through the real gateway and decision
services, with a client generated from the protocol's own `.proto` (`tests/open_inference`,
`conftest`).

Models are registered through decision's `RegisterModel` and promoted through the asset
lifecycle, as the gateway forwards them: a scikit-learn logistic regression (skl2onnx, with
and without ZipMap), a LightGBM model converted by onnxmltools with ZipMap removed, and a
classifier with string labels (a BYTES output).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from services.decision import training
from services.kernel.messaging.nats_server import NatsServer, free_port
from tests import converted_models
from tests.conftest import random_id
from tests.integration.gateway.conftest import new_key
from tests.integration.harness import running, violations
from tests.integration.inference.conftest import (
    Stack,
    build_gateway,
    onnx_answer,
    refused,
    shapes,
)
from tests.open_inference import generated
from tests.polling import eventually

SKLEARN_ZIPMAP = training.DEFAULT_PATH.read_bytes()  # the shipped model: ZipMap kept
ROWS = np.array([[3, 2.5, 1, 2], [0, 40, 0, 1], [1, 10, 1, 3]], dtype=np.float32)


@functools.cache
def sklearn_tensor() -> bytes:
    return training.train_onnx(zipmap=False)


@functools.cache
def string_labels() -> tuple[bytes, Any]:
    """A classifier whose labels are text: its label output is a BYTES tensor."""
    from sklearn.linear_model import LogisticRegression

    x, y = training.synthetic(rows=800)
    model = LogisticRegression(max_iter=300).fit(x, np.where(y == 1, "buys", "browses"))
    return training.to_onnx_bytes(model, x, zipmap=False), model


async def test_metadata_and_inference_for_sklearn_models_follow_the_champion(
    stack: Stack, client: Any
) -> None:
    tenant = random_id("t")
    oip = client(stack.key(tenant, "models:infer"))
    await stack.register(tenant, "propensity", "v1", SKLEARN_ZIPMAP)
    await stack.register(tenant, "propensity", "v2", sklearn_tensor())
    await stack.promote(tenant, "propensity", "v1")

    meta = await oip.metadata("propensity")
    assert (meta.name, list(meta.versions), meta.platform) == (
        "propensity",
        ["v1", "v2"],
        "onnxruntime_onnx",
    )
    assert shapes(meta.inputs) == [("X", "FP32", [-1, 4])]
    assert shapes(meta.outputs) == [  # the ZipMap output served as [batch, classes]
        ("output_label", "INT64", [-1]),
        ("output_probability", "FP32", [-1, -1]),
    ]
    tensor_meta = await oip.metadata("propensity", "v2")
    assert shapes(tensor_meta.outputs) == [
        ("label", "INT64", [-1]),
        ("probabilities", "FP32", [-1, 2]),
    ]

    # typed contents in, typed out; no version: the champion; a batch of three rows
    request = oip.pb.ModelInferRequest(
        model_name="propensity", id="req-1", inputs=[oip.fp32("X", ROWS)]
    )
    answer = await oip.infer(request)
    assert (answer.model_name, answer.model_version, answer.id) == ("propensity", "v1", "req-1")
    expected = onnx_answer(SKLEARN_ZIPMAP, {"X": ROWS})
    label, probability = answer.outputs
    assert shapes(answer.outputs) == [
        ("output_label", "INT64", [3]),
        ("output_probability", "FP32", [3, 2]),
    ]
    assert list(label.contents.int64_contents) == expected["output_label"].tolist()
    columns = [[row[0], row[1]] for row in expected["output_probability"]]  # classes 0, 1
    got = np.array(probability.contents.fp32_contents).reshape(3, 2)
    np.testing.assert_allclose(got, columns, rtol=1e-6)
    assert not answer.raw_output_contents

    # raw contents in, raw out; a named version and one named output
    raw = oip.pb.ModelInferRequest(
        model_name="propensity",
        model_version="v2",
        inputs=[oip.pb.ModelInferRequest.InferInputTensor(name="X", datatype="FP32", shape=[3, 4])],
        outputs=[oip.pb.ModelInferRequest.InferRequestedOutputTensor(name="probabilities")],
        raw_input_contents=[ROWS.astype("<f4").tobytes()],
    )
    answer = await oip.infer(raw)
    assert answer.model_version == "v2"
    assert shapes(answer.outputs) == [("probabilities", "FP32", [3, 2])]
    [content] = answer.raw_output_contents
    np.testing.assert_allclose(
        np.frombuffer(content, "<f4").reshape(3, 2),
        onnx_answer(sklearn_tensor(), {"X": ROWS})["probabilities"],
        rtol=1e-6,
    )

    empty = oip.pb.ModelInferRequest(model_name="propensity", inputs=[oip.fp32("X", ROWS[:0])])
    assert shapes((await oip.infer(empty)).outputs) == [
        ("output_label", "INT64", [0]),
        ("output_probability", "FP32", [0, 0]),
    ]

    # a new champion is served at once; the one it replaced is retired and never serves
    await stack.promote(tenant, "propensity", "v2")
    assert (await oip.infer(request)).model_version == "v2"
    assert list((await oip.metadata("propensity")).versions) == ["v2"]
    with pytest.raises(grpc.aio.AioRpcError) as retired:
        await oip.infer(oip.pb.ModelInferRequest(model_name="propensity", model_version="v1"))
    assert retired.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_lightgbm_without_zipmap_and_a_bytes_output(stack: Stack, client: Any) -> None:
    tenant = random_id("t")
    oip = client(stack.key(tenant, "models:infer"))
    content, booster = converted_models.lightgbm()
    await stack.register(tenant, "churn", "lgbm-1", content)  # registered, not promoted

    meta = await oip.metadata("churn", "lgbm-1")
    assert shapes(meta.inputs) == [("features", "FP32", [-1, 4])]
    assert [(n, d) for n, d, _ in shapes(meta.outputs)] == [
        ("label", "INT64"),
        ("probabilities", "FP32"),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as unnamed:  # no champion: a version is needed
        await oip.metadata("churn")
    assert unnamed.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    request = oip.pb.ModelInferRequest(
        model_name="churn",
        model_version="lgbm-1",
        inputs=[oip.pb.ModelInferRequest.InferInputTensor(name="features", datatype="FP32")],
        raw_input_contents=[ROWS.astype("<f4").tobytes()],
    )
    request.inputs[0].shape.extend([3, 4])
    answer = await oip.infer(request)
    label, probabilities = answer.raw_output_contents
    assert shapes(answer.outputs) == [("label", "INT64", [3]), ("probabilities", "FP32", [3, 2])]
    assert np.frombuffer(label, "<i8").tolist() == booster.predict(ROWS).tolist()
    np.testing.assert_allclose(
        np.frombuffer(probabilities, "<f4").reshape(3, 2), booster.predict_proba(ROWS), atol=1e-5
    )

    content, classifier = string_labels()
    await stack.register(tenant, "intent", "1", content)
    answer = await oip.infer(
        oip.pb.ModelInferRequest(
            model_name="intent",
            model_version="1",
            inputs=[oip.fp32("X", ROWS)],
            outputs=[oip.pb.ModelInferRequest.InferRequestedOutputTensor(name="label")],
        )
    )
    assert shapes(answer.outputs) == [("label", "BYTES", [3])]
    expected = [s.encode() for s in classifier.predict(ROWS)]
    assert list(answer.outputs[0].contents.bytes_contents) == expected


async def test_keys_tenants_and_bad_tensors_are_refused_per_the_protocol(
    stack: Stack, client: Any
) -> None:
    tenant, other = random_id("t"), random_id("t")
    await stack.register(tenant, "propensity", "v1", SKLEARN_ZIPMAP)
    oip = client(stack.key(tenant, "models:infer"))
    good = oip.pb.ModelInferRequest(
        model_name="propensity", model_version="v1", inputs=[oip.fp32("X", ROWS)]
    )
    assert len((await oip.infer(good)).outputs) == 2

    nobody = await refused(oip.stub.ModelInfer(good, timeout=10))
    assert nobody.code() == grpc.StatusCode.UNAUTHENTICATED
    no_scope = client(stack.key(tenant, "decisions"))
    denied = await refused(no_scope.infer(good))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "models:infer" in (denied.details() or "")

    stranger = client(stack.key(other, "models:infer"))  # another tenant: never its models
    for call in (stranger.infer(good), stranger.metadata("propensity", "v1")):
        assert (await refused(call)).code() == grpc.StatusCode.NOT_FOUND
    unknown = await refused(oip.metadata("nope"))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    missing_version = await refused(oip.metadata("propensity", "v9"))
    assert missing_version.code() == grpc.StatusCode.NOT_FOUND

    wide = oip.pb.ModelInferRequest(
        model_name="propensity", model_version="v1", inputs=[oip.fp32("X", ROWS[:, :3])]
    )
    shape = await refused(oip.infer(wide))
    assert shape.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(shape) == ["inputs[0].shape"] and "'X'" in (shape.details() or "")
    doubles = oip.pb.ModelInferRequest.InferInputTensor(name="X", datatype="FP64", shape=[1, 4])
    doubles.contents.fp64_contents.extend([1.0, 2.0, 3.0, 4.0])
    datatype = await refused(
        oip.infer(
            oip.pb.ModelInferRequest(model_name="propensity", model_version="v1", inputs=[doubles])
        )
    )
    assert datatype.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(datatype) == ["inputs[0].datatype"] and "'X'" in (datatype.details() or "")
    short = oip.fp32("X", ROWS)
    del short.contents.fp32_contents[-1]
    count = await refused(
        oip.infer(
            oip.pb.ModelInferRequest(model_name="propensity", model_version="v1", inputs=[short])
        )
    )
    assert violations(count) == ["inputs[0].contents"]


async def test_liveness_readiness_and_server_metadata(stack: Stack, client: Any) -> None:
    tenant = random_id("t")
    oip = client(stack.key(tenant, "models:infer"))
    pb, auth = oip.pb, oip.auth()
    await stack.register(tenant, "propensity", "v1", SKLEARN_ZIPMAP)
    assert (await oip.stub.ServerLive(pb.ServerLiveRequest(), metadata=auth, timeout=10)).live
    assert (await oip.stub.ServerReady(pb.ServerReadyRequest(), metadata=auth, timeout=10)).ready
    server = await oip.stub.ServerMetadata(pb.ServerMetadataRequest(), metadata=auth, timeout=10)
    assert server.name == "layercake" and server.version

    async def ready(version: str) -> bool:
        request = pb.ModelReadyRequest(name="propensity", version=version)
        answer = await oip.stub.ModelReady(request, metadata=auth, timeout=10)
        return bool(answer.ready)

    assert await ready("v1") and not await ready("")  # registered; no champion yet
    await stack.promote(tenant, "propensity", "v1")
    assert await eventually(lambda: ready(""))
    unknown = await refused(
        oip.stub.ModelReady(pb.ModelReadyRequest(name="nope"), metadata=auth, timeout=10)
    )
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


async def test_server_ready_is_false_while_decision_does_not_answer(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    settings = {
        "LAYERCAKE_DECISION_ADDR": f"127.0.0.1:{free_port()}",  # nothing listens
        "LAYERCAKE_RPC_TIMEOUT": "2",
    }
    async with running("gateway", build_gateway, nats_server.url, tmp_path, settings) as gateway:
        assert gateway.context is not None and gateway.server is not None
        key = new_key(gateway.context.uow, random_id("t"), "models:infer")
        messages, stubs = generated()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.server.port}") as channel:
            stub = stubs.GRPCInferenceServiceStub(channel)
            auth = (("authorization", f"Bearer {key}"),)
            live = await stub.ServerLive(messages.ServerLiveRequest(), metadata=auth, timeout=10)
            ready = await stub.ServerReady(messages.ServerReadyRequest(), metadata=auth, timeout=10)
            assert live.live and not ready.ready
            down = await refused(
                stub.ModelMetadata(
                    messages.ModelMetadataRequest(name="m"), metadata=auth, timeout=10
                )
            )
            assert down.code() == grpc.StatusCode.UNAVAILABLE
