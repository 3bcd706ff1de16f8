"""A real PostgreSQL for the tests: Debian's server started once per session on a loopback
port in a temporary folder (tests/servers/postgres.sh: initdb + pg_ctl as the current user,
or as the postgres user when the tests run as root); each test gets a fresh database."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from conftest import free_port

POSTGRES = Path(__file__).resolve().parent / "servers" / "postgres.sh"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The server's URL (its maintenance database), for as long as the session runs."""
    # Under /tmp, not pytest's private folder: as root the cluster runs as the postgres user.
    folder = Path(tempfile.mkdtemp(prefix="outreach-state-pg-"))
    started = subprocess.run(
        [str(POSTGRES), "start", str(folder), str(free_port())],
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        if started.returncode != 0:
            pytest.fail(
                "could not start PostgreSQL (run 'make test-tools' as root, which installs "
                f"Debian's postgresql):\n{started.stderr}",
                pytrace=False,
            )
        values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
        yield values["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    finally:
        subprocess.run([str(POSTGRES), "stop", str(folder)], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server: str) -> str:
    """A new, empty database on ``server`` (its maintenance URL): its URL (user, no password)."""
    name = f"state_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def state_database(postgres_server: str) -> str:
    """A new, empty database on the session's server: its URL (user, no password)."""
    return new_database(postgres_server)
