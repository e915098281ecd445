"""Model bytes in a configured directory (`LAYERCAKE_DECISION_MODEL_DIR`) instead of the
store: `<dir>/<tenant>/<sha256>.onnx`, written atomically, the store keeping the path and
checksum. A file read back is checked against its checksum, so a missing or altered file
makes its version unavailable (FAILED_PRECONDITION) instead of serving other bytes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from services.kernel.errors import FailedPrecondition, InvalidArgument
from services.kernel.tenants import is_tenant_id

MODEL_DIR_ENV = "LAYERCAKE_DECISION_MODEL_DIR"


def configured_model_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The directory of model files; None (the store keeps the bytes) when unset or empty."""
    value = (os.environ if environ is None else environ).get(MODEL_DIR_ENV, "")
    return Path(value).resolve() if value else None


class ModelFiles:
    """One tenant directory each under `root`; a file is named by its content's SHA-256, so
    writing the same model twice is harmless and a file never changes once written."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, tenant_id: str, sha256: str, content: bytes) -> str:
        """Writes the bytes (temp file, fsync, rename, fsync of the directory) and returns
        the path the store keeps."""
        if not is_tenant_id(tenant_id):
            raise InvalidArgument.field("tenant_id", "is not a tenant id")
        folder = self.root / tenant_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{sha256}.onnx"
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return str(target)


def read_model_file(path: str, sha256: str, name: str) -> bytes:
    """The file's bytes when their SHA-256 is the registered one; FAILED_PRECONDITION (the
    version unavailable) when the file is missing or altered."""
    try:
        content = Path(path).read_bytes()
    except OSError as e:
        raise FailedPrecondition(
            f"{name} is unavailable: its file {path} cannot be read ({e.strerror})"
        ) from e
    found = hashlib.sha256(content).hexdigest()
    if found != sha256:
        raise FailedPrecondition(
            f"{name} is unavailable: its file {path} was altered"
            f" (sha256 {found[:12]}…, registered {sha256[:12]}…)"
        )
    return content
