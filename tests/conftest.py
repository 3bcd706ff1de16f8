"""Shared fixtures: a throwaway project folder per test, and one Prefect harness per session."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

# Prefect reads these at import time: set them before any test imports the flows.
os.environ.setdefault("PREFECT_TASKS_DISABLE_CACHING", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.pop("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", None)

from outreach.config import Settings, load_settings

pytest_plugins = ["smtp_tools", "wordpress_tools", "web_tools", "postgres_tools"]
"""The SMTP server (``inbox``), WordPress (``wordpress``) and subscriber app (``web_app``,
``serve_web``) fixtures live in these modules."""

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"

NOW = datetime(2026, 6, 1, tzinfo=UTC)
"""The test clock: after alpha and beta are published, before gamma's embargo lifts."""
AFTER_EMBARGO = datetime(2026, 7, 2, tzinfo=UTC)


def free_port() -> int:
    """A loopback port free right now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(root: Path, findings: Path, media: Path, extra: str = "") -> Path:
    config = root / "outreach.toml"
    config.write_text(
        f"""
[site]
title = "Fixture Site"
tagline = "Findings for tests"
base_url = "https://findings.example.org/research/"
organisation = "Fixture Programme"
author = "Fixture team"
posts_per_page = 2

[paths]
findings = "{findings.as_posix()}"
media = "{media.as_posix()}"
press = "{(REPO / "press").as_posix()}"
templates = "{(REPO / "templates").as_posix()}"
public = "public"
build = "build"
state = "state"

[channels.blog]
platforms = ["static"]
{extra}""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with its own copy of the fixture findings and media."""
    shutil.copytree(FIXTURES / "findings", tmp_path / "findings")
    shutil.copytree(FIXTURES / "media", tmp_path / "media")
    write_config(tmp_path, tmp_path / "findings", tmp_path / "media")
    return tmp_path


@pytest.fixture
def settings(project: Path) -> Settings:
    return load_settings(project / "outreach.toml", environ={})


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    """A copy of the repository's own sample content, with the repository's configuration."""
    for name in ("findings", "media", "press", "templates"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "outreach.toml", tmp_path / "outreach.toml")
    return tmp_path


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """One temporary Prefect server for the whole session; yields its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def flow_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Sets the time the flows act at. Flows take no clock parameter (a deployment form could
    set it): tests replace ``flows.common.clock`` instead."""

    def set_clock(moment: datetime) -> None:
        monkeypatch.setattr("flows.common.clock", lambda: moment)

    return set_clock
