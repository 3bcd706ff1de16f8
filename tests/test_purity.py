"""Rendering touches no file, clock, program or network: every channel renders from the
findings, the settings and what the release prepared before rendering (mastered episodes, the
press kit's clip, the kits' secret). Checked by rendering the sample site's every channel with
writes, clocks, sockets and subprocesses made to raise, and comparing bytes with a normal run."""

from __future__ import annotations

import builtins
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import NOW
from outreach.channels.podcast import CHANNEL as PODCAST
from outreach.config import Settings, load_settings
from outreach.podcast.audio import AudioProfile, master
from outreach.podcast.show import PodcastError
from outreach.release import ReleaseRequest, load_catalog, run_release
from outreach.release_steps import channel_site
from outreach.runner import PreviewRunner

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class OutsideWorld(AssertionError):
    """Rendering reached for a file write, the clock, a socket or a program."""


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise OutsideWorld(f"rendering tried to {what}: {args[:2]!r}")

    return refuse


class _NoClockDatetime(datetime):
    now = classmethod(_refuse("read the clock (datetime.now)"))  # type: ignore[assignment]
    utcnow = classmethod(_refuse("read the clock (datetime.utcnow)"))  # type: ignore[assignment]
    today = classmethod(_refuse("read the clock (datetime.today)"))  # type: ignore[assignment]


class _NoClockDate(date):
    today = classmethod(_refuse("read the clock (date.today)"))  # type: ignore[assignment]


@contextmanager
def outside_world_forbidden() -> Iterator[None]:
    """Within: opening a file for writing, replacing, renaming or removing a file, making a
    folder, reading the clock, opening a socket and starting a program all raise."""
    patch = pytest.MonkeyPatch()
    real_open, real_os_open = builtins.open, os.open

    def read_only_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+"):
            raise OutsideWorld(f"rendering tried to write {file} (mode {mode!r})")
        return real_open(file, mode, *args, **kwargs)

    def read_only_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & WRITE_FLAGS:
            raise OutsideWorld(f"rendering tried to write {path}")
        return real_os_open(path, flags, *args, **kwargs)

    try:
        patch.setattr(builtins, "open", read_only_open)
        patch.setattr(io, "open", read_only_open)
        patch.setattr(os, "open", read_only_os_open)
        for name in ("replace", "rename", "remove", "unlink", "mkdir", "makedirs", "chmod"):
            patch.setattr(os, name, _refuse(f"change the filesystem (os.{name})"))
        for name in ("time", "time_ns"):
            patch.setattr(time, name, _refuse(f"read the clock (time.{name})"))
        # Our modules that did `from datetime import datetime` hold the class itself. (feedgen
        # reads the clock for defaults the channels always replace: its output is checked
        # by the byte comparison and the golden files instead.)
        for module_name, module in list(sys.modules.items()):
            if module_name.split(".")[0] != "outreach":
                continue
            if getattr(module, "datetime", None) is datetime:
                patch.setattr(module, "datetime", _NoClockDatetime)
            if getattr(module, "date", None) is date:
                patch.setattr(module, "date", _NoClockDate)
        patch.setattr(socket, "socket", _refuse("open a socket"))
        patch.setattr(socket, "create_connection", _refuse("open a connection"))
        patch.setattr(subprocess.Popen, "__init__", _refuse("start a program"))
        yield
    finally:
        patch.undo()


class CollectingRunner(PreviewRunner):
    """The release sequence in preview, keeping what each channel rendered (no writes);
    with ``guarded``, the render steps run with the outside world forbidden."""

    def __init__(self, guarded: bool) -> None:
        super().__init__()
        self.guarded = guarded
        self.files: dict[tuple[str, str], bytes] = {}
        self.render_steps = 0

    def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        if not name.startswith("render"):
            return fn(*args)
        self.render_steps += 1
        if not self.guarded:
            return fn(*args)
        with outside_world_forbidden():
            return fn(*args)

    def publish(self, settings, plans, platform, site_wide, now, dry_run):  # type: ignore[override]
        for plan in plans:
            for batch in plan.batches:
                for deliverable in batch.deliverables:
                    self.files[(plan.channel, deliverable.path)] = deliverable.content
        return []


@pytest.fixture
def every_channel(sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The sample site with every channel on, WordPress included (never reached: preview)."""
    config = sample_project / "outreach.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('# [channels.wordpress]\n# platforms = ["wordpress"]',
                        '[channels.wordpress]\nplatforms = ["wordpress"]')  # fmt: skip
    assert '\n[channels.wordpress]\nplatforms = ["wordpress"]' in text
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", "not-used-in-preview")
    environ = {
        "OUTREACH_WORDPRESS__URL": "http://127.0.0.1:9/",
        "OUTREACH_WORDPRESS__USERNAME": "editor",
    }
    return load_settings(config, environ=environ)


def test_every_channel_renders_the_same_bytes_with_files_clock_network_and_programs_forbidden(
    every_channel: Settings,
) -> None:
    """What users rely on: a release renders the same site however often and wherever it
    runs, and rendering an embargoed kit can leak nothing because it reaches nothing."""
    normal = CollectingRunner(guarded=False)
    run_release(ReleaseRequest(every_channel, NOW, preview=True), normal)
    state = sorted(p.relative_to(every_channel.root) for p in every_channel.paths.state.rglob("*"))

    guarded = CollectingRunner(guarded=True)
    run_release(ReleaseRequest(every_channel, NOW, preview=True), guarded)

    assert guarded.render_steps == normal.render_steps > 0
    channels = {channel for channel, _ in normal.files}
    assert {"blog", "podcast", "press", "newsroom", "wordpress"} <= channels
    paths = {path for _, path in normal.files}
    assert any(path.endswith("episode-clip.mp3") for path in paths)
    assert any(path.startswith("podcast/episodes/") for path in paths)
    assert guarded.files.keys() == normal.files.keys()
    changed = [key for key in normal.files if guarded.files[key] != normal.files[key]]
    assert changed == []
    # The second run made nothing new in the state folder (the secret was read, not made).
    after = sorted(p.relative_to(every_channel.root) for p in every_channel.paths.state.rglob("*"))
    assert after == state


def test_the_guard_catches_mastering_a_recording(tmp_path: Path, sample_project: Path) -> None:
    """The guard is real: mastering (a program and a cache write) fails under it."""
    recording = next((sample_project / "media" / "audio").iterdir())
    with outside_world_forbidden(), pytest.raises(OutsideWorld):
        master(recording, tmp_path / "cache", AudioProfile())
    with outside_world_forbidden(), pytest.raises(OutsideWorld):
        time.time()
    assert (tmp_path / "cache").exists() is False


def test_an_episode_not_prepared_is_named_not_mastered_while_rendering(
    sample_project: Path,
) -> None:
    """Rendering never masters: an episode the release did not prepare is an error that names
    the finding, with no program started and nothing written."""
    settings = load_settings(sample_project / "outreach.toml", environ={})
    catalog = load_catalog(settings)
    finding = next(f for f in catalog.values() if f.episode is not None)
    view = channel_site(settings, catalog, "podcast", [finding.id], [], NOW)
    with outside_world_forbidden(), pytest.raises(PodcastError) as caught:
        PODCAST.render_finding(finding, view.site)
    assert str(finding.source_path) in str(caught.value)
    assert "not mastered before rendering" in str(caught.value)
