"""Model versions, their signatures, deployments (who serves in which stage) and the
challenger's traffic split. Pure: the ONNX adapter reads signatures, this checks them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from services.kernel.errors import FieldViolation, Violations

MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
FEATURE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
MAX_FEATURES = 1024
FLOATS = frozenset({"tensor(float)", "tensor(double)"})
TEXT = "tensor(string)"
# what a feature row can feed: numbers (an INT64 input takes them rounded) and text
INPUTS = FLOATS | {"tensor(int64)", TEXT}


class Stage(StrEnum):
    REGISTERED = "registered"
    SHADOW = "shadow"
    CHALLENGER = "challenger"
    CHAMPION = "champion"
    RETIRED = "retired"


@dataclass(frozen=True)
class TensorSpec:
    """An input or output as the model declares it; -1 for an open dimension."""

    name: str
    type: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class ModelVersion:
    """A registered ONNX file: immutable, addressed by (tenant, model, version)."""

    tenant_id: str
    model_name: str
    version: str
    sha256: str
    size_bytes: int
    feature_names: tuple[str, ...]
    signature: Signature
    score_output: str
    owner: str = ""
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def check_names(model_name: str, version: str, features: tuple[str, ...]) -> list[FieldViolation]:
    bad = Violations()
    if not MODEL_NAME.match(model_name):
        bad.add("model_name", "must be 1-100 lower-case letters, digits and ._- ")
    if not VERSION.match(version):
        bad.add("version", "must be 1-64 letters, digits and ._+-")
    if not features:
        bad.add("feature_names", "must name the features the model takes")
    if len(features) > MAX_FEATURES:
        bad.add("feature_names", f"must name at most {MAX_FEATURES} features")
    for i, name in enumerate(features[:MAX_FEATURES]):
        if not FEATURE.match(name):
            bad.add(f"feature_names[{i}]", "must be a feature name (letters, digits, _.:-)")
    if len(set(features)) != len(features):
        bad.add("feature_names", "must not repeat a feature")
    return bad.items


def _columns(spec: TensorSpec) -> int:
    """Columns of a [batch, columns] input; -1 when open."""
    return spec.shape[1] if len(spec.shape) == 2 else 1


def check_signature(signature: Signature, features: tuple[str, ...]) -> list[FieldViolation]:
    """Why the model cannot take the declared features: one input of [batch, n] columns, or
    one [batch, 1] input per feature, named after it; each float, double, int64 or string."""
    bad = Violations()
    inputs = signature.inputs
    for spec in inputs:
        if spec.type not in INPUTS:
            served = ", ".join(sorted(INPUTS))
            bad.add("model", f"input {spec.name!r} is {spec.type}; the inputs served are {served}")
        elif len(spec.shape) not in (1, 2):
            bad.add("model", f"input {spec.name!r} has shape {list(spec.shape)}, not [batch, n]")
    if bad.items:
        return bad.items
    if len(inputs) == 1:
        columns = _columns(inputs[0])
        if columns not in (-1, len(features)):
            bad.add(
                "feature_names",
                f"declares {len(features)} features but the model's input {inputs[0].name!r}"
                f" takes {columns} columns",
            )
    else:
        names = {spec.name for spec in inputs}
        if names != set(features):
            bad.add(
                "feature_names",
                f"must be the model's inputs {sorted(names)} when it takes one input per feature",
            )
        for spec in inputs:
            if _columns(spec) not in (-1, 1):
                bad.add("model", f"input {spec.name!r} must take one column")
    return bad.items


def score_output(signature: Signature) -> str | None:
    """The output holding class probabilities: a `seq(map(...))` (ZipMap) or a float tensor,
    preferring one named like probabilities; None when the model has neither."""
    usable = [o for o in signature.outputs if o.type in FLOATS or o.type.startswith("seq(map(")]
    for spec in usable:
        if "prob" in spec.name.lower():
            return spec.name
    return usable[-1].name if usable else None


@dataclass(frozen=True)
class Deployment:
    """Which versions of one model serve, and how: the content of its `model` asset."""

    champion: str = ""
    challenger: str = ""
    challenger_share: float = 0.0
    shadows: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()

    def stage_of(self, version: str) -> Stage:
        if version == self.champion:
            return Stage.CHAMPION
        if version == self.challenger:
            return Stage.CHALLENGER
        if version in self.shadows:
            return Stage.SHADOW
        if version in self.retired:
            return Stage.RETIRED
        return Stage.REGISTERED

    def serving(self) -> tuple[str, ...]:
        """Every version scored on a call: champion, challenger, shadows."""
        found = (self.champion, self.challenger, *self.shadows)
        return tuple(v for v in found if v)

    def violations(self) -> list[FieldViolation]:
        bad = Violations()
        if self.challenger and not self.champion:
            bad.add("stage", "a challenger needs a champion to challenge")
        if self.challenger and not 0.0 < self.challenger_share < 1.0:
            bad.add("challenger_share", "must be between 0 and 1 (exclusive) for a challenger")
        if not self.challenger and self.challenger_share:
            bad.add("challenger_share", "must be 0 without a challenger")
        serving = self.serving()
        if len(set(serving)) != len(serving):
            bad.add("version", "a version serves in one stage at a time")
        if set(serving) & set(self.retired):
            bad.add("version", "a retired version never serves again")
        return bad.items


def promote(current: Deployment, version: str, stage: Stage, share: float = 0.0) -> Deployment:
    """The deployment after moving `version` to `stage`; a champion replaced is retired.

    Refuses what the lifecycle forbids: a retired version, or `registered` as a target."""
    if version in current.retired:
        raise_bad("version", f"version {version!r} is retired and never serves again")
    if stage == Stage.REGISTERED:
        raise_bad("stage", "registered is where a version starts, not a promotion")
    rest = replace(
        current,
        champion="" if current.champion == version else current.champion,
        challenger="" if current.challenger == version else current.challenger,
        challenger_share=0.0 if current.challenger == version else current.challenger_share,
        shadows=tuple(v for v in current.shadows if v != version),
    )
    if stage == Stage.SHADOW:
        return replace(rest, shadows=(*rest.shadows, version))
    if stage == Stage.CHALLENGER:
        return replace(rest, challenger=version, challenger_share=share)
    if stage == Stage.CHAMPION:
        retired = (*rest.retired, rest.champion) if rest.champion else rest.retired
        return replace(rest, champion=version, retired=retired)
    return replace(rest, retired=(*rest.retired, version))


def raise_bad(field_name: str, message: str) -> None:
    bad = Violations()
    bad.add(field_name, message)
    bad.raise_if_any()


def in_challenger_share(tenant_id: str, profile_id: str, model_name: str, share: float) -> bool:
    """Whether a profile is served by the challenger: a stable hash of tenant, profile and
    model mapped to [0, 1), so a profile keeps its side across calls, replicas and versions."""
    key = "\x1f".join((tenant_id, profile_id, model_name)).encode()
    point = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0**64
    return point < share
