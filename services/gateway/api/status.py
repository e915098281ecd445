"""StatusService: whether NATS and the services behind the gateway answer, probed at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc

from layercake.gateway.v1 import status_service_pb2 as pb
from layercake.gateway.v1 import status_service_pb2_grpc as pb_grpc
from services.gateway.adapters.peers import Peer
from services.gateway.api import scopes
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.public import Context, PublicRpcs
from services.kernel.errors import LayercakeError
from services.kernel.principals import Scope
from services.kernel.rpc.server import Servicer
from services.kernel.rpc.signing import InternalCalls

PROBE_TIMEOUT = 2.0  # seconds a peer has to answer its health check

SERVICE = pb.DESCRIPTOR.services_by_name["StatusService"]
scopes.declare(SERVICE, {"GetStatus": Scope.ASSETS_READ})

if TYPE_CHECKING:
    HealthPeer = Peer[health_pb2_grpc.HealthAsyncStub]
else:
    HealthPeer = Peer


class StatusServicer(PublicRpcs, pb_grpc.StatusServiceServicer):
    """`peers` by name, each a channel to the peer's `grpc.health.v1` with a short timeout
    (`health_peers`), so a probe of a stopped peer ends soon."""

    def __init__(
        self, gate: Gatekeeper, peers: Mapping[str, HealthPeer], nats_connected: Callable[[], bool]
    ) -> None:
        super().__init__(gate)
        self.peers = peers
        self.nats_connected = nats_connected

    async def GetStatus(
        self, request: pb.GetStatusRequest, context: Context
    ) -> pb.GetStatusResponse:
        await self.admit(context)
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

    async def _probe(self, name: str, peer: HealthPeer) -> pb.ComponentStatus:
        started = time.monotonic()
        try:
            reply = await peer.call(lambda s: s.Check, health_pb2.HealthCheckRequest())
            serving = reply.status == health_pb2.HealthCheckResponse.SERVING
            detail = peer.addr if serving else f"{peer.addr}: not serving"
        except LayercakeError as e:
            serving, detail = False, f"{peer.addr}: {e}"
        latency = Duration()
        latency.FromNanoseconds(int((time.monotonic() - started) * 1e9))
        return pb.ComponentStatus(name=name, serving=serving, detail=detail, latency=latency)


def health_peers(
    addrs: Mapping[str, str], timeout: float, internal: InternalCalls
) -> dict[str, HealthPeer]:
    """A health channel per peer, its timeout at most PROBE_TIMEOUT."""
    return {
        name: Peer(addr, min(timeout, PROBE_TIMEOUT), internal, health_pb2_grpc.HealthStub)
        for name, addr in addrs.items()
    }


def status_servicer(
    gate: Gatekeeper, peers: Mapping[str, HealthPeer], nats_connected: Callable[[], bool]
) -> Servicer:
    return Servicer(
        pb_grpc.add_StatusServiceServicer_to_server,
        StatusServicer(gate, peers, nats_connected),
        SERVICE.full_name,
    )
