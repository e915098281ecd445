"""Registered model versions on SQLAlchemy; every query is scoped to one tenant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.orm import Session

from services.decision.domain.models import ModelVersion, Signature, TensorSpec
from services.decision.ports import ModelVersions
from services.decision.store.model_files import ModelFiles, read_model_file
from services.decision.store.tables import model_versions

_META = [c for c in model_versions.c if c.name not in ("content", "path")]


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


class SqlModelVersions(ModelVersions):
    """Model versions as rows of `model_versions`: the bytes beside the signature, or with
    `files`, in a file whose path (and checksum) the row keeps."""

    def __init__(self, session: Session, files: ModelFiles | None = None) -> None:
        self.session = session
        self.files = files

    def add(self, model: ModelVersion, content: bytes, at: datetime) -> None:
        specs = {
            side: [{"name": s.name, "type": s.type, "shape": list(s.shape)} for s in specs]
            for side, specs in (
                ("inputs", model.signature.inputs),
                ("outputs", model.signature.outputs),
            )
        }
        path = self.files.write(model.tenant_id, model.sha256, content) if self.files else ""
        self.session.execute(
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
                register_time=at,
                content=None if path else content,
                path=path,
            )
        )

    def get(self, tenant_id: str, model_name: str, version: str) -> ModelVersion | None:
        row = self.session.execute(
            select(*_META).where(*_key(tenant_id, model_name, version))
        ).first()
        return None if row is None else _version(dict(row._mapping))

    def content(self, tenant_id: str, model_name: str, version: str) -> bytes | None:
        """The stored bytes, or the file's (whatever this process's directory setting: the
        row names its file), checked against the registered SHA-256."""
        c = model_versions.c
        row = self.session.execute(
            select(c.content, c.path, c.sha256).where(*_key(tenant_id, model_name, version))
        ).first()
        if row is None:
            return None
        if not row.path:
            content: bytes = row.content
            return content
        return read_model_file(row.path, row.sha256, f"model {model_name!r} version {version!r}")

    def list(
        self, tenant_id: str, model_name: str, after: tuple[str, str] | None, limit: int
    ) -> list[ModelVersion]:
        name, version = model_versions.c.model_name, model_versions.c.version
        query = select(*_META).where(model_versions.c.tenant_id == tenant_id)
        if model_name:
            query = query.where(name == model_name)
        if after is not None:  # a bound the primary key seeks (an OR of the two would scan)
            same = after[0] == model_name  # a page of one model: after its version
            query = query.where(
                version > after[1] if same else tuple_(name, version) > tuple_(*after)
            )
        rows = self.session.execute(query.order_by(name, version).limit(limit))
        return [_version(dict(r._mapping)) for r in rows]


def _key(tenant_id: str, model_name: str, version: str) -> list[ColumnElement[bool]]:
    return [
        model_versions.c.tenant_id == tenant_id,
        model_versions.c.model_name == model_name,
        model_versions.c.version == version,
    ]
