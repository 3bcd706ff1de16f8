"""Secrets the pipeline signs with: from the environment, else made once in the state folder.

The made-once file (mode 0600, git-ignored with the state folder) lets embedded defaults run
with no setup while production sets the variable (or a Prefect block fills it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from outreach.files import private_folder


def stable_secret(
    state: Path, name: str, variable: str, environ: Mapping[str, str] | None = None
) -> bytes:
    environ = os.environ if environ is None else environ
    if environ.get(variable):
        return environ[variable].encode()
    path = state / name
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        private_folder(path.parent)
        value = secrets.token_hex(32).encode()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_bytes().strip()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(value)
        return value
