"""Random and mutated request bytes against every RPC of every service, all four running:
an answer may refuse, but never with UNKNOWN or INTERNAL (a crash or a leaked exception).

Methods come from the generated descriptors, so a new RPC is fuzzed without a new case.
Seeded: LAYERCAKE_FUZZ_SEED reproduces a failure; LAYERCAKE_FUZZ_CASES runs more.
"""

from __future__ import annotations

import collections
import os
import random
from contextlib import AsyncExitStack

import grpc

from services.kernel.runtime import Runtime
from tests.conftest import random_id
from tests.integration.conftest import Services
from tests.integration.gateway.conftest import new_key
from tests.signing import signed_channel
from tests.wire_fuzz import Fuzzer, path_of, service_methods

SEED = int(os.environ.get("LAYERCAKE_FUZZ_SEED", "20261129"))
CASES = int(os.environ.get("LAYERCAKE_FUZZ_CASES", "300"))
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
LEAKS = ("Traceback", "DecodeError", "Exception", "Error parsing")


def admin_key(gateway: Runtime) -> str:
    assert gateway.context is not None
    return new_key(gateway.context.uow, random_id("fz"), "admin")


async def test_no_request_bytes_make_any_rpc_answer_unknown_or_internal(
    services: Services,
) -> None:
    gateway = services.gateway
    assert gateway.server is not None
    key = (("authorization", f"Bearer {admin_key(gateway)}"),)
    metadata = {name: key for name in gateway.server.names}  # every public service
    async with AsyncExitStack() as stack:
        channels: dict[str, grpc.aio.Channel] = {}
        for runtime in (*services.internal.values(), gateway):
            assert runtime.server is not None
            addr = services.addr(runtime)
            # internal services are called as the gateway calls them, so handlers are reached
            channel = (
                grpc.aio.insecure_channel(addr)
                if runtime is gateway
                else signed_channel(addr, tenant="fuzz")
            )
            stack.push_async_callback(channel.close, None)
            channels |= {name: channel for name in runtime.server.names}

        methods = service_methods()
        unserved = {m.containing_service.full_name for m in methods} - channels.keys()
        assert not unserved, f"services no process serves: {unserved}"
        fuzzer = Fuzzer(random.Random(SEED))
        seen: collections.Counter[tuple[str, str]] = collections.Counter()
        for case in range(CASES):
            method = methods[case % len(methods)]
            service = method.containing_service.full_name
            kind, body = fuzzer.request_bytes(method)
            call = channels[service].unary_unary(
                path_of(method), request_serializer=None, response_deserializer=None
            )
            try:
                await call(body, timeout=10, metadata=metadata.get(service, ()))
                code, details = grpc.StatusCode.OK, ""
            except grpc.aio.AioRpcError as e:
                code, details = e.code(), (e.details() or "") + repr(e.trailing_metadata())
            where = f"seed {SEED} case {case} {path_of(method)} {kind}: {code.name} {details[:300]}"
            assert code not in NEVER, f"{where}; body {body[:200]!r}"
            assert not any(leak in details for leak in LEAKS), where
            seen[(kind, code.name)] += 1

    codes = {code for _, code in seen}
    assert "INVALID_ARGUMENT" in codes, seen  # bad bytes were refused as such
    assert codes - {"INVALID_ARGUMENT"}, seen  # and good ones reached the handlers
    assert "UNAUTHENTICATED" not in codes, seen  # every call was made as the gateway makes it
    assert seen[("poisoned", "INVALID_ARGUMENT")] > 0, seen
