"""Registered models run for the Open Inference Protocol, in the caller's tenant only.

A request names a model and perhaps a version; without one the champion serves. A live
version runs on the session `ModelServing` holds for Decide (swapped on every replica as
promotions publish); any other registered version is loaded on first use and kept in a
small least-recently-used cache: versions are immutable, so a session never goes stale.
Sessions run in the scoring executor, never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from services.decision import handlers, scoring
from services.decision.domain.inference import Choice, TensorMeta, choose_version, is_zipmap
from services.decision.domain.models import Deployment, ModelVersion, Signature
from services.decision.serving import ModelServing
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.errors import FailedPrecondition, InvalidArgument, NotFound
from services.kernel.service_layer import ServiceLayer

CACHED_SESSIONS = 8  # sessions of versions outside the live deployments, per process

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Runnable:
    """One model version ready to run."""

    model_name: str
    version: str
    signature: Signature
    session: ort.InferenceSession

    def run(self, feed: Mapping[str, Array], outputs: Sequence[TensorMeta]) -> list[Array]:
        """Blocking: call it in an executor. A ZipMap output comes back as FP32
        `[batch, classes]`; INVALID_ARGUMENT with onnxruntime's reason when it refuses."""
        types = {spec.name: spec.type for spec in self.signature.inputs}
        inputs = {
            name: _strings(name, value) if types.get(name) == "tensor(string)" else value
            for name, value in feed.items()
        }
        try:
            values = self.session.run([o.name for o in outputs], inputs)
        except Exception as e:  # onnxruntime's own InvalidArgument/Fail for what it was fed
            raise InvalidArgument.field("inputs", scoring.failure(e)) from None
        kinds = {spec.name: spec.type for spec in self.signature.outputs}
        return [
            _class_columns(value) if is_zipmap(kinds[o.name]) else np.asarray(value)
            for o, value in zip(outputs, values, strict=True)
        ]


def _strings(name: str, value: Array) -> Array:
    """BYTES arrive as bytes; onnxruntime's string tensors take text."""
    try:
        text: Array = np.vectorize(lambda b: b.decode(), otypes=[np.object_])(value)
    except UnicodeDecodeError:
        raise InvalidArgument.field(
            "inputs", f"input {name!r} holds bytes that are not UTF-8"
        ) from None
    return text


def _class_columns(rows: list[Mapping[Any, float]]) -> Array:
    """A ZipMap's `[{class: probability}, ...]` as `[batch, classes]`, in the model's order."""
    columns = len(rows[0]) if rows else 0
    return np.asarray([list(row.values()) for row in rows], dtype=np.float32).reshape(
        len(rows), columns
    )


class InferenceModels:
    """The tenant's registered models as the protocol sees them, with their sessions."""

    def __init__(
        self,
        layer: ServiceLayer[SqlDecisionUnitOfWork],
        serving: ModelServing,
        executor: Executor,
        capacity: int = CACHED_SESSIONS,
    ) -> None:
        self.layer = layer
        self.serving = serving
        self.executor = executor
        self.capacity = capacity
        self._cached: OrderedDict[tuple[str, str, str], Runnable] = OrderedDict()
        self._loading = asyncio.Lock()

    def _deployment(self, tenant_id: str, model_name: str) -> Deployment:
        live = self.serving.live(tenant_id, model_name)
        return live.deployment if live is not None else Deployment()

    async def describe(
        self, tenant_id: str, model_name: str, version: str
    ) -> tuple[ModelVersion, list[str]]:
        """The chosen version and every version that may serve (retired ones never do);
        NOT_FOUND for a model or version not registered in the tenant."""
        registered = await self.layer.read(handlers.model_versions, tenant_id, model_name)
        deployment = self._deployment(tenant_id, model_name)
        chosen = _chosen(model_name, choose_version(deployment, version))
        found = next((m for m in registered if m.version == chosen), None)
        if found is None:
            raise NotFound(f"model {model_name!r} has no registered version {chosen!r}")
        return found, [m.version for m in registered if m.version not in deployment.retired]

    async def runnable(self, tenant_id: str, model_name: str, version: str) -> Runnable:
        """The session of the version asked for (the champion for `""`); NOT_FOUND for a
        model or version not registered in the tenant, FAILED_PRECONDITION for one that
        may not serve."""
        deployment = self._deployment(tenant_id, model_name)
        choice = choose_version(deployment, version)
        if choice.refusal:  # a model never registered is NOT_FOUND rather than refused
            await self.layer.read(handlers.model_versions, tenant_id, model_name)
        chosen = _chosen(model_name, choice)
        live = self.serving.live(tenant_id, model_name)
        if live is not None and chosen in live.models:
            loaded = live.models[chosen]
            return Runnable(model_name, chosen, loaded.signature, loaded.session)
        key = (tenant_id, model_name, chosen)
        found = self._cached.get(key)
        if found is None:
            async with self._loading:  # one load at a time, so a version is loaded once
                found = self._cached.get(key)
                if found is None:
                    found = await self._load(tenant_id, model_name, chosen)
                    self._cached[key] = found
                    while len(self._cached) > self.capacity:
                        self._cached.popitem(last=False)
        else:
            self._cached.move_to_end(key)
        return found

    async def _load(self, tenant_id: str, model_name: str, version: str) -> Runnable:
        model, content = await self.layer.read(handlers.model_file, tenant_id, model_name, version)
        loop = asyncio.get_running_loop()
        session = await loop.run_in_executor(self.executor, scoring.open_session, content)
        return Runnable(model_name, version, model.signature, session)

    async def run(
        self, model: Runnable, feed: Mapping[str, Array], outputs: Sequence[TensorMeta]
    ) -> list[Array]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, model.run, feed, outputs)


def _chosen(model_name: str, choice: Choice) -> str:
    if choice.refusal:
        raise FailedPrecondition(f"model {model_name!r} {choice.refusal}")
    return choice.version
