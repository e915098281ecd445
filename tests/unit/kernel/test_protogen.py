"""The generated-code check: stale or missing files are named."""

from __future__ import annotations

from pathlib import Path

from services.kernel.protogen import differences


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_identical_trees_have_no_differences(tmp_path: Path) -> None:
    files = {"a/v1/x_pb2.py": "x = 1\n", "a/__init__.py": ""}
    assert differences(tree(tmp_path / "l", files), tree(tmp_path / "r", files)) == []


def test_changed_missing_and_extra_files_are_named(tmp_path: Path) -> None:
    fresh = tree(tmp_path / "fresh", {"a/v1/x_pb2.py": "x = 2\n", "a/v1/y_pb2.py": "y\n"})
    committed = tree(tmp_path / "old", {"a/v1/x_pb2.py": "x = 1\n", "a/v1/z_pb2.py": "z\n"})
    assert differences(fresh, committed) == ["a/v1/x_pb2.py", "a/v1/y_pb2.py", "a/v1/z_pb2.py"]
