"""Loaded models of every live deployment, swapped in on every replica as promotions publish.

Sessions are built from the store at start and again when a deployment is published
(heard through a broadcast subscription), off the event loop; the swap replaces one
dictionary entry, so a call already scoring keeps the deployment it started with and
names the versions it used. A large batch is scored in an executor; a decision's few rows
on the event loop (`INLINE_ROWS`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from services.decision import handlers, mapping, scoring
from services.decision.domain.models import Deployment, Stage, in_challenger_share
from services.decision.domain.transforms import Cell
from services.decision.scoring import LoadedModel
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.errors import FailedPrecondition
from services.kernel.messaging import subjects
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.service_layer import ServiceLayer

log = logging.getLogger(__name__)
# A decision's few rows are scored on the event loop: a one-thread session scores them in
# tens of microseconds, less than handing them to a thread and back costs; more go to one.
INLINE_ROWS = 16


@dataclass(frozen=True)
class Score:
    version: str
    stage: Stage
    score: float


@dataclass(frozen=True)
class Live:
    """One model's published deployment with its versions loaded."""

    change_version: int
    deployment: Deployment
    models: Mapping[str, LoadedModel]

    @functools.cached_property
    def scored(self) -> tuple[tuple[str, Stage, LoadedModel], ...]:
        """Every serving version with its stage and model, found once per deployment."""
        d = self.deployment
        return tuple((v, d.stage_of(v), self.models[v]) for v in d.serving())


class ModelServing:
    """The loaded models of every tenant's live deployments, in this process."""

    def __init__(self, layer: ServiceLayer[SqlDecisionUnitOfWork], executor: Executor) -> None:
        self.layer = layer
        self.executor = executor
        self._live: dict[tuple[str, str], Live] = {}
        self._loaded: dict[tuple[str, str, str], LoadedModel] = {}
        self._lock = asyncio.Lock()

    def live(self, tenant_id: str, model_name: str) -> Live | None:
        return self._live.get((tenant_id, model_name))

    def sessions(self, tenant_id: str, model_name: str) -> set[str]:
        """Versions of the model with a session held in this process."""
        return {v for t, m, v in self._loaded if (t, m) == (tenant_id, model_name)}

    async def load(self) -> None:
        """Every live deployment from the store: at start, and after a broadcast gap."""
        found = await self.layer.read(handlers.published_models)
        for tenant_id, model_name in found:
            try:
                await self.reload(tenant_id, model_name)
            except FailedPrecondition as e:  # its file missing or altered: the rest load
                log.error(
                    "model deployment unavailable",
                    extra={"tenant": tenant_id, "model": model_name, "error": str(e)},
                )
        log.info("models loaded", extra={"deployments": len(found)})

    async def reload(self, tenant_id: str, model_name: str) -> None:
        """Swaps in the model's live deployment, unless this process already serves it."""
        async with self._lock:
            number, deployment = await self.layer.read(
                handlers.live_deployment, tenant_id, model_name
            )
            current = self._live.get((tenant_id, model_name))
            if current is not None and current.change_version >= number:
                return
            loaded = {}
            for version in deployment.serving():
                loaded[version] = await self._model(tenant_id, model_name, version)
            self._live[(tenant_id, model_name)] = Live(number, deployment, loaded)
            for key in [k for k in self._loaded if k[:2] == (tenant_id, model_name)]:
                if key[2] not in loaded:  # out of service: calls still scoring keep theirs
                    del self._loaded[key]
            log.info(
                "model deployment swapped in",
                extra={"tenant": tenant_id, "model": model_name, "change": number},
            )

    async def _model(self, tenant_id: str, model_name: str, version: str) -> LoadedModel:
        key = (tenant_id, model_name, version)
        found = self._loaded.get(key)
        if found is None:
            model, content = await self.layer.read(
                handlers.model_file, tenant_id, model_name, version
            )
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(
                self.executor,
                lambda: scoring.load(
                    version, content, model.feature_names, model.signature, model.score_output
                ),
            )
            self._loaded[key] = found  # versions are immutable: a session serves forever
        return found

    async def on_published(self, envelope: Envelope) -> None:
        tenant_id, model_name, _ = mapping.published_model(envelope)
        await self.reload(tenant_id, model_name)

    def broadcast(self) -> BroadcastSpec:
        return BroadcastSpec(
            name="decision-models",
            stream="DECISION",
            filter_subject=subjects.integration("*", "decision", "model_deployment_published"),
            handler=self.on_published,
            load=self.load,
        )

    async def score(
        self, tenant_id: str, model_name: str, profile_id: str, features: Mapping[str, Cell]
    ) -> tuple[Score, list[Score]]:
        """(the score to act on, every serving version's score) for one profile."""
        served, scores = await self.score_rows(tenant_id, model_name, profile_id, [features])
        return served[0], scores[0]

    async def score_rows(
        self,
        tenant_id: str,
        model_name: str,
        profile_id: str,
        rows: Sequence[Mapping[str, Cell]],
    ) -> tuple[list[Score], list[list[Score]]]:
        """Per row: the score to act on (the champion's, or the challenger's for a profile in
        its share) and every serving version's score; one batch per version."""
        live = self._live.get((tenant_id, model_name))
        if live is None or not live.deployment.champion:
            raise FailedPrecondition(f"model {model_name!r} has no champion in service")
        deployment = live.deployment
        scored = live.scored
        if len(rows) * len(scored) <= INLINE_ROWS:
            values = [m.score(rows) for _, _, m in scored]  # tens of microseconds: less than a hop
        else:
            batch = list(rows)
            loop = asyncio.get_running_loop()
            values = await loop.run_in_executor(
                self.executor, lambda: [m.score(batch) for _, _, m in scored]
            )
        scores = [
            [
                Score(v, stage, column[i])
                for (v, stage, _), column in zip(scored, values, strict=True)
            ]
            for i in range(len(rows))
        ]
        share = deployment.challenger_share
        challenger = deployment.challenger and in_challenger_share(
            tenant_id, profile_id, model_name, share
        )
        served = deployment.challenger if challenger else deployment.champion
        at = next(i for i, (v, _, _) in enumerate(scored) if v == served)
        return [row[at] for row in scores], scores
