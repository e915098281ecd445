"""Generates the Python code of `protos/` into the `layercake` package.

Generated code is committed so a fresh checkout imports it; `--check` regenerates
into a scratch directory and fails when the committed tree differs (stale code).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

PROTO_ROOT = Path("protos")


def generate(out_dir: Path) -> None:
    """Runs protoc (grpcio-tools) with the gRPC and mypy plugins into `out_dir`."""
    protos = sorted(str(p) for p in PROTO_ROOT.rglob("*.proto"))
    include = str(resources.files("grpc_tools") / "_proto")
    out_dir.mkdir(parents=True, exist_ok=True)
    plugins = Path(sys.executable).parent
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    # protoc in a child process: the plugins' chatter is shown only when it fails
    done = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", *args[1:]],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"protoc failed:\n{done.stdout}{done.stderr}")
    package = out_dir / "layercake"
    for directory in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()
    (package / "py.typed").touch()


def differences(left: Path, right: Path) -> list[str]:
    """Relative paths that differ between two trees (ignoring caches)."""
    found: list[str] = []
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    stack = [(cmp, Path())]
    while stack:
        node, rel = stack.pop()
        found += [str(rel / n) for n in node.left_only + node.right_only]
        _, mismatch, errors = filecmp.cmpfiles(
            node.left, node.right, node.common_files, shallow=False
        )
        found += [str(rel / n) for n in mismatch + errors]
        stack += [(sub, rel / name) for name, sub in node.subdirs.items()]
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", type=Path, help="package directory, e.g. layercake")
    parser.add_argument("--check", action="store_true", help="fail when target is stale")
    args = parser.parse_args()
    target: Path = args.target
    with tempfile.TemporaryDirectory() as scratch:
        generate(Path(scratch))
        fresh = Path(scratch) / "layercake"
        if args.check:
            if not target.is_dir():
                sys.exit(f"generated code missing: run `make proto` ({target} absent)")
            stale = differences(fresh, target)
            if stale:
                sys.exit("generated code is stale, run `make proto`: " + ", ".join(stale))
            print(f"generated code in {target}/ is up to date")
            return
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(fresh, target, ignore=shutil.ignore_patterns("__pycache__"))
        print(f"generated {target}/ from {PROTO_ROOT}/")


if __name__ == "__main__":
    main()
