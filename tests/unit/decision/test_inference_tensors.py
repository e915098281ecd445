"""Open Inference Protocol tensors: typed and raw contents both ways, and every way a
request's tensors can disagree with themselves, refused naming the input."""

from __future__ import annotations

import numpy as np
import pytest

from layercake.inference import grpc_predict_v2_pb2 as pb
from services.decision.api.tensors import Tensor, decode_inputs, encode_outputs
from services.kernel.errors import InvalidArgument

Input = pb.ModelInferRequest.InferInputTensor


def typed(name: str, datatype: str, shape: list[int], **contents: list[object]) -> Input:
    tensor = Input(name=name, datatype=datatype, shape=shape)
    for field, values in contents.items():
        getattr(tensor.contents, field).extend(values)
    return tensor


def bytes_raw(*items: bytes) -> bytes:
    return b"".join(len(i).to_bytes(4, "little") + i for i in items)


def refused(request: pb.ModelInferRequest) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as bad:
        decode_inputs(request)
    return {v.field: v.description for v in bad.value.violations}


def test_typed_fp32_int64_and_bytes_inputs_decode_in_row_major_order() -> None:
    request = pb.ModelInferRequest(
        inputs=[
            typed("x", "FP32", [2, 2], fp32_contents=[1.5, 2.0, 3.0, 4.25]),
            typed("n", "INT64", [2], int64_contents=[7, -(2**40)]),
            typed("s", "BYTES", [2, 1], bytes_contents=[b"a\x00b", b""]),
        ]
    )
    x, n, s = decode_inputs(request)
    assert x.array.dtype == np.float32 and x.array.tolist() == [[1.5, 2.0], [3.0, 4.25]]
    assert n.array.dtype == np.int64 and n.array.tolist() == [7, -(2**40)]
    assert s.array.shape == (2, 1) and s.array.tolist() == [[b"a\x00b"], [b""]]
    assert [t.meta.shape for t in (x, n, s)] == [(2, 2), (2,), (2, 1)]


def test_raw_inputs_decode_little_endian_and_length_prefixed_bytes() -> None:
    floats = np.array([[1.0, -2.5, 3.0]], dtype="<f4")
    longs = np.array([1, 2**50], dtype="<i8")
    request = pb.ModelInferRequest(
        inputs=[
            Input(name="x", datatype="FP32", shape=[1, 3]),
            Input(name="n", datatype="INT64", shape=[2]),
            Input(name="s", datatype="BYTES", shape=[3]),
        ],
        raw_input_contents=[floats.tobytes(), longs.tobytes(), bytes_raw(b"yes", b"", b"no")],
    )
    x, n, s = decode_inputs(request)
    assert x.array.tolist() == [[1.0, -2.5, 3.0]] and x.array.dtype == np.float32
    assert n.array.tolist() == [1, 2**50]
    assert s.array.tolist() == [b"yes", b"", b"no"]


def test_a_value_count_that_does_not_fill_the_shape_names_the_input() -> None:
    request = pb.ModelInferRequest(
        inputs=[
            typed("ok", "FP32", [1], fp32_contents=[1.0]),
            typed("x", "FP32", [2, 3], fp32_contents=[1.0] * 5),
        ]
    )
    bad = refused(request)
    assert list(bad) == ["inputs[1].contents"]
    assert "'x'" in bad["inputs[1].contents"] and "takes 6" in bad["inputs[1].contents"]


@pytest.mark.parametrize(
    ("tensor", "field", "says"),
    [
        (typed("x", "FP8", [1], fp32_contents=[1.0]), "datatype", "'FP8' is not one of"),
        (typed("x", "FP32", [-1, 2], fp32_contents=[1.0, 2.0]), "shape", "negative"),
        (typed("x", "FP32", [2], int64_contents=[1, 2]), "contents", "go in fp32_contents"),
        (typed("x", "FP16", [1]), "contents", "raw_input_contents"),
        (typed("", "FP32", [1], fp32_contents=[1.0]), "name", "required"),
        (typed("x", "FP32", [0, 2**62]), "shape", "more values than a request can carry"),
        (typed("x", "FP32", [1] * 70), "shape", "at most 32"),
    ],
)
def test_a_malformed_input_is_refused_naming_the_part(tensor: Input, field: str, says: str) -> None:
    bad = refused(pb.ModelInferRequest(inputs=[tensor]))
    assert list(bad) == [f"inputs[0].{field}"] and says in bad[f"inputs[0].{field}"]


def test_raw_contents_must_match_the_inputs_and_their_sizes() -> None:
    two = [
        Input(name="a", datatype="FP32", shape=[2]),
        Input(name="b", datatype="INT64", shape=[1]),
    ]
    assert "raw_input_contents" in refused(
        pb.ModelInferRequest(inputs=two, raw_input_contents=[b"\x00" * 8])
    )
    short = refused(
        pb.ModelInferRequest(inputs=two, raw_input_contents=[b"\x00" * 7, np.int64(1).tobytes()])
    )
    assert list(short) == ["inputs[0].shape"] and "7 bytes" in short["inputs[0].shape"]
    mixed = [typed("a", "FP32", [1], fp32_contents=[1.0])]
    assert "raw_input_contents" in refused(
        pb.ModelInferRequest(inputs=mixed, raw_input_contents=[b"\x00" * 4])
    )


@pytest.mark.parametrize(
    "raw",
    [bytes_raw(b"a"), bytes_raw(b"a", b"b", b"c"), bytes_raw(b"a", b"b")[:-1], b"\x01\x00"],
)
def test_raw_bytes_elements_must_be_exactly_the_shape(raw: bytes) -> None:
    request = pb.ModelInferRequest(
        inputs=[Input(name="s", datatype="BYTES", shape=[2])], raw_input_contents=[raw]
    )
    assert list(refused(request)) == ["inputs[0].shape"]


def outputs() -> list[Tensor]:
    return [
        Tensor("p", "FP32", np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)),
        Tensor("label", "INT64", np.array([1, 0], dtype=np.int64)),
        Tensor("name", "BYTES", np.array(["yes", "no"], dtype=np.object_)),
    ]


def test_outputs_encode_as_typed_contents() -> None:
    response = pb.ModelInferResponse()
    encode_outputs(response, outputs(), raw=False)
    p, label, name = response.outputs
    assert (p.name, p.datatype, list(p.shape)) == ("p", "FP32", [2, 2])
    assert list(p.contents.fp32_contents) == [0.25, 0.75, 0.5, 0.5]
    assert list(label.contents.int64_contents) == [1, 0] and label.datatype == "INT64"
    assert list(name.contents.bytes_contents) == [b"yes", b"no"] and name.datatype == "BYTES"
    assert not response.raw_output_contents


def test_outputs_encode_as_raw_contents_in_output_order() -> None:
    response = pb.ModelInferResponse()
    encode_outputs(response, outputs(), raw=True)
    p, label, name = response.raw_output_contents
    assert np.frombuffer(p, "<f4").tolist() == [0.25, 0.75, 0.5, 0.5]
    assert np.frombuffer(label, "<i8").tolist() == [1, 0]
    assert name == bytes_raw(b"yes", b"no")
    assert all(not o.HasField("contents") for o in response.outputs)
    assert [list(o.shape) for o in response.outputs] == [[2, 2], [2], [2]]
