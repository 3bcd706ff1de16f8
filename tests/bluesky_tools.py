"""A real Bluesky PDS (@atproto/pds with @did-plc/server's in-memory directory) on loopback,
installed by ``tests/servers/bluesky.sh install`` (``make test-tools``) under
~/.cache/outreach-test-tools/ (once per machine)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import REPO, free_port

SCRIPT = REPO / "tests" / "servers" / "bluesky.sh"
START = REPO / "tests" / "servers" / "bluesky-pds.mjs"


def pds_installed() -> bool:
    folder = Path(subprocess.run([SCRIPT, "dir"], capture_output=True, text=True).stdout.strip())
    return (folder / ".installed").is_file()


@contextmanager
def running_pds(data: Path) -> Iterator[str]:
    """Start the PDS and the PLC directory; yields the PDS URL. Stopped on exit."""
    node = subprocess.run([SCRIPT, "node"], capture_output=True, text=True).stdout.strip()
    app = Path(subprocess.run([SCRIPT, "dir"], capture_output=True, text=True).stdout.strip())
    data.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [node, str(START), str(data)],
        cwd=app / "app",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "PDS_TEST_PORT": str(free_port())},
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until both servers serve
        if not line:
            raise RuntimeError(f"the PDS did not start (exit {process.wait(timeout=30)})")
        yield json.loads(line)["pds"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def create_account(pds: str, handle: str, password: str) -> None:
    from atproto import Client

    Client(base_url=pds).com.atproto.server.create_account(
        {"handle": handle, "email": f"{handle}@example.org", "password": password}
    )
