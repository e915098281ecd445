"""A client of the Open Inference Protocol generated from the protocol's own `.proto` text
with grpc_tools, as a KServe user generates theirs: nothing of the server's generated code.

Its messages live in a descriptor pool of their own: the server's code (imported by other
tests in the same process) already defines `inference.*` in the default pool, and protobuf
refuses a second definition of the same names there.
"""

from __future__ import annotations

import functools
import importlib
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from unittest import mock

from google.protobuf import descriptor_pool
from grpc_tools import protoc

PROTO = Path(__file__).resolve().parents[1] / "protos/layercake/inference/grpc_predict_v2.proto"
FILE = "grpc_predict_v2.proto"  # the name KServe publishes it under


@functools.cache
def generated() -> tuple[ModuleType, ModuleType]:
    """(`grpc_predict_v2_pb2`, `grpc_predict_v2_pb2_grpc`) generated from the proto text."""
    out = Path(tempfile.mkdtemp(prefix="oip-client-"))
    (out / FILE).write_text(PROTO.read_text())
    code = protoc.main(
        ["protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}", str(out / FILE)]
    )
    assert code == 0, f"protoc failed on {PROTO}"
    pool = descriptor_pool.DescriptorPool()
    sys.path.insert(0, str(out))
    try:
        with mock.patch.object(descriptor_pool, "Default", lambda: pool):
            messages = importlib.import_module("grpc_predict_v2_pb2")
            stubs = importlib.import_module("grpc_predict_v2_pb2_grpc")
    finally:
        sys.path.remove(str(out))
    assert messages.ModelInferRequest.DESCRIPTOR.file.pool is pool
    return messages, stubs
