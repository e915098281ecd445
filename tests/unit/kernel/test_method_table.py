"""The server's method table: every method found by its full name, generic handlers after."""

from __future__ import annotations

from typing import Any

import grpc

from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.kernel.rpc.server import MethodTable

SERVICE = "layercake.identity.v1.IdentityService"


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def test_a_generated_service_is_found_by_each_full_method_name() -> None:
    table = MethodTable()
    added: Any = table
    servicer = pb_grpc.IdentityServiceServicer()  # type: ignore[abstract]  # never called here
    pb_grpc.add_IdentityServiceServicer_to_server(servicer, added)
    found = table.service(Details(f"/{SERVICE}/GetProfile"))
    assert found is not None and found.unary_unary is not None
    assert table.service(Details(f"/{SERVICE}/NoSuchMethod")) is None
    assert table.service(Details("/other.Service/GetProfile")) is None


def test_a_service_added_only_as_a_generic_handler_is_still_served() -> None:
    async def echo(request: bytes, context: Any) -> bytes:
        return request

    table = MethodTable()
    handler = grpc.unary_unary_rpc_method_handler(echo)
    table.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),)
    )
    assert table.service(Details("/bench.Echo/Echo")) is handler
    assert table.service(Details("/bench.Echo/Other")) is None
