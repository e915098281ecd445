"""Reads and writes registered model versions; every query is scoped to one tenant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.decision.domain.models import ModelVersion, Signature, TensorSpec
from services.decision.store.tables import model_versions
from services.kernel.errors import AlreadyExists

_META = [c for c in model_versions.c if c.name != "content"]


def _specs(items: list[dict[str, Any]]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(i["name"], i["type"], tuple(i["shape"])) for i in items)


def _version(m: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        tenant_id=m["tenant_id"],
        model_name=m["model_name"],
        version=m["version"],
        sha256=m["sha256"],
        size_bytes=m["size_bytes"],
        feature_names=tuple(m["feature_names"]),
        signature=Signature(_specs(m["signature"]["inputs"]), _specs(m["signature"]["outputs"])),
        score_output=m["score_output"],
        owner=m["owner"],
        description=m["description"],
        labels=dict(m["labels"]),
    )


def add(session: Session, model: ModelVersion, content: bytes, now: datetime) -> ModelVersion:
    """Stores a new version; the same file again is a no-op, another file under a taken
    version is ALREADY_EXISTS (a version names one file forever)."""
    existing = get(session, model.tenant_id, model.model_name, model.version)
    if existing is not None:
        if existing.sha256 == model.sha256:
            return existing
        raise AlreadyExists(
            f"model {model.model_name!r} already has a version {model.version!r}"
            f" with another file (sha256 {existing.sha256[:12]}…)"
        )
    specs = {
        side: [{"name": s.name, "type": s.type, "shape": list(s.shape)} for s in specs]
        for side, specs in (
            ("inputs", model.signature.inputs),
            ("outputs", model.signature.outputs),
        )
    }
    session.execute(
        model_versions.insert().values(
            tenant_id=model.tenant_id,
            model_name=model.model_name,
            version=model.version,
            sha256=model.sha256,
            size_bytes=model.size_bytes,
            feature_names=list(model.feature_names),
            signature=specs,
            score_output=model.score_output,
            owner=model.owner,
            description=model.description,
            labels=dict(model.labels),
            register_time=now,
            content=content,
        )
    )
    return model


def get(session: Session, tenant_id: str, model_name: str, version: str) -> ModelVersion | None:
    row = session.execute(
        select(*_META).where(
            model_versions.c.tenant_id == tenant_id,
            model_versions.c.model_name == model_name,
            model_versions.c.version == version,
        )
    ).first()
    return None if row is None else _version(dict(row._mapping))


def content(session: Session, tenant_id: str, model_name: str, version: str) -> bytes | None:
    return session.execute(
        select(model_versions.c.content).where(
            model_versions.c.tenant_id == tenant_id,
            model_versions.c.model_name == model_name,
            model_versions.c.version == version,
        )
    ).scalar_one_or_none()
