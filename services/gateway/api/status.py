"""StatusService: whether NATS and the services behind the gateway answer, probed at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration

from layercake.gateway.v1 import status_service_pb2 as pb
from layercake.gateway.v1 import status_service_pb2_grpc as pb_grpc
from services.gateway.adapters.peer import Peer
from services.gateway.api.auth import Gatekeeper
from services.kernel.errors import LayercakeError
from services.kernel.principals import Scope
from services.kernel.rpc.server import Servicer

Context = grpc.aio.ServicerContext[Any, Any]
PROBE_TIMEOUT = 2.0  # seconds a peer has to answer its health check


class StatusServicer(pb_grpc.StatusServiceServicer):
    def __init__(
        self,
        gate: Gatekeeper,
        peers: Mapping[str, Peer[Any]],
        nats_connected: Callable[[], bool],
        probe_timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self.gate = gate
        self.peers = peers
        self.nats_connected = nats_connected
        self.probe_timeout = probe_timeout

    async def GetStatus(
        self, request: pb.GetStatusRequest, context: Context
    ) -> pb.GetStatusResponse:
        await self.gate.admit(context.invocation_metadata() or (), Scope.ASSETS_READ)
        nats = self.nats_connected()
        probed = await asyncio.gather(*(self._probe(n, p) for n, p in self.peers.items()))
        return pb.GetStatusResponse(
            components=[
                pb.ComponentStatus(name="gateway", serving=True, detail="answering"),
                pb.ComponentStatus(
                    name="nats", serving=nats, detail="connected" if nats else "disconnected"
                ),
                *probed,
            ]
        )

    async def _probe(self, name: str, peer: Peer[Any]) -> pb.ComponentStatus:
        started = time.monotonic()
        try:
            serving = await peer.serving(self.probe_timeout)
            detail = peer.addr if serving else f"{peer.addr}: not serving"
        except LayercakeError as e:
            serving, detail = False, f"{peer.addr}: {e}"
        latency = Duration()
        latency.FromNanoseconds(int((time.monotonic() - started) * 1e9))
        return pb.ComponentStatus(name=name, serving=serving, detail=detail, latency=latency)


def status_servicer(
    gate: Gatekeeper, peers: Mapping[str, Peer[Any]], nats_connected: Callable[[], bool]
) -> Servicer:
    return Servicer(
        pb_grpc.add_StatusServiceServicer_to_server,
        StatusServicer(gate, peers, nats_connected),
        pb.DESCRIPTOR.services_by_name["StatusService"].full_name,
    )
