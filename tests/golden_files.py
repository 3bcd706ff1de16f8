"""Compare rendered output with reviewed files in tests/golden/ (UPDATE_GOLDEN=1 rewrites)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_matches_golden(name: str, content: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return
    assert path.is_file(), f"no golden file {path}; run UPDATE_GOLDEN=1 pytest to create it"
    expected = path.read_bytes()
    if content != expected:
        diff = difflib.unified_diff(
            expected.decode("utf-8", "replace").splitlines(),
            content.decode("utf-8", "replace").splitlines(),
            f"golden/{name}",
            "rendered",
            lineterm="",
        )
        raise AssertionError(
            "rendered output differs from golden file:\n" + "\n".join(list(diff)[:80])
        )
