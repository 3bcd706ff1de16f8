"""Share images drawn ahead in worker processes: the same PNG bytes as drawn in the release's
own process, only for findings that are rendered again, and the release still works when the
workers cannot start."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from PIL import Image

from conftest import NOW
from outreach import ahead
from outreach.config import Settings
from outreach.release import load_catalog, release
from outreach.share_image import (
    SITE_CARD_PATH,
    _draw_share_image,
    _draw_site_card,
    draw_share_image,
    draw_site_card,
    share_image_args,
)
from process_tools import blog_release_in_fresh_process


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Hashable, ...]]:
    """Every call submitted to the workers; workers start for any number of calls."""
    calls: list[tuple[Hashable, ...]] = []
    original = ahead.Ahead.submit

    def spy(self: ahead.Ahead, function: Callable[..., Any], batch: Iterable[tuple]) -> None:
        batch = list(batch)
        calls.extend(batch)
        original(self, function, batch)

    monkeypatch.setattr(ahead, "MIN_CALLS", 1)
    monkeypatch.setattr(ahead, "MIN_CALLS_CLEAN", 1)
    monkeypatch.setattr(ahead.Ahead, "submit", spy)
    draw_share_image.cache_clear()
    return calls


def _counted_at_close(monkeypatch: pytest.MonkeyPatch, counter: str) -> list[int]:
    """Each release's workers' ``counter`` (``served``: images the workers drew; ``apart``:
    calls run apart in a worker, the site card), read as they close."""
    counts: list[int] = []
    original = ahead.Ahead.close

    def close(self: ahead.Ahead) -> None:
        counts.append(getattr(self, counter))
        original(self)

    monkeypatch.setattr(ahead.Ahead, "close", close)
    return counts


def test_share_images_drawn_by_workers_are_the_bytes_drawn_in_process(
    settings: Settings, submitted: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = _counted_at_close(monkeypatch, "served")
    release(settings, None, ["blog"], NOW)
    catalog = load_catalog(settings)
    cards = sorted(settings.paths.public.glob("blog/*/share.png"))
    assert len(cards) >= 2 and served[-1] == len(cards), "every card came from a worker"
    for card in cards:
        args = share_image_args(catalog[card.parent.name], settings)
        assert args in submitted
        assert card.read_bytes() == _draw_share_image(*args), f"{card} differs"
        assert Image.open(io.BytesIO(card.read_bytes())).size == (1200, 630)


def test_an_unchanged_release_draws_no_share_image(
    settings: Settings, submitted: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    release(settings, None, ["blog"], NOW)
    submitted.clear()
    draw_share_image.cache_clear()
    served = _counted_at_close(monkeypatch, "served")
    report = release(settings, None, ["blog"], NOW)
    assert not report.changed and submitted == [] and served == [0]


def test_workers_that_cannot_start_leave_the_drawing_to_the_release(
    settings: Settings, submitted: list, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise BrokenProcessPool("no processes here")

    monkeypatch.setattr(ProcessPoolExecutor, "submit", broken)
    release(settings, None, ["blog"], NOW)
    catalog = load_catalog(settings)
    card = settings.paths.public / "blog/alpha-cocoa-prices/share.png"
    args = share_image_args(catalog["alpha-cocoa-prices"], settings)
    assert submitted and card.read_bytes() == _draw_share_image(*args)


def test_with_other_threads_alive_workers_come_from_a_clean_process(
    settings: Settings, submitted: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork while another thread may hold a lock is unsafe: the forkserver starts them."""
    served = _counted_at_close(monkeypatch, "served")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not ahead._may_fork()
        release(settings, None, ["blog"], NOW)
    finally:
        stop.set()
        other.join()
    card = settings.paths.public / "blog/alpha-cocoa-prices/share.png"
    args = share_image_args(load_catalog(settings)["alpha-cocoa-prices"], settings)
    assert served[-1] >= 2 and card.read_bytes() == _draw_share_image(*args)


def test_a_small_release_starts_no_workers(settings: Settings, submitted: list) -> None:
    """Starting workers costs more than drawing a few images: below the threshold the release
    draws them itself, and a large one starts them once enough were asked for."""
    workers = ahead.Ahead(2)
    try:
        ahead.MIN_CALLS = ahead.MIN_CALLS_CLEAN = 3
        workers.submit(_draw_share_image, [("a", "1", "x", "food-agriculture", "Site")] * 2)
        assert workers.take(_draw_share_image, ("a", "1", "x", "food-agriculture", "Site")) is (
            ahead.MISSING
        ), "two calls asked for: none went to a worker"
        calls = [
            ("b", "2", "y", "food-agriculture", "Site"),
            ("c", "3", "z", "food-agriculture", "Site"),
        ]
        workers.submit(_draw_share_image, calls)
        assert workers.take(_draw_share_image, calls[0]) == _draw_share_image(*calls[0])
        assert workers.served == 1
    finally:
        workers.close()


RUN_APART_SPY = (
    "from outreach import ahead\n"
    "apart = []\n"
    "run_apart = ahead.Ahead.run_apart\n"
    "def recording(self, function, args):\n"
    "    result = run_apart(self, function, args)\n"
    "    if result is not ahead.MISSING:\n"
    "        apart.append(function.__name__)\n"
    "    return result\n"
    "ahead.Ahead.run_apart = recording\n"
)
"""Patches a new process so that ``apart`` lists the calls a worker ran (``run_apart``)."""
FRESH_PROCESS_NOW = datetime(2031, 1, 1, tzinfo=UTC)
"""The date ``blog_release_in_fresh_process`` releases at."""


def test_the_site_card_drawn_in_a_worker_is_the_bytes_drawn_in_process(
    settings: Settings,
) -> None:
    printed = blog_release_in_fresh_process(
        settings, before=RUN_APART_SPY, after="print(apart.count('_draw_site_card'))\n"
    )
    assert printed == "1", "the card came from a worker"
    card = (settings.paths.public / SITE_CARD_PATH).read_bytes()
    assert card == _draw_site_card(settings.site.title, settings.site.tagline, "")
    assert Image.open(io.BytesIO(card)).size == (1200, 630)


def _release_with_another_thread_alive(settings: Settings, now: datetime) -> None:
    """A blog release while a second thread waits (a Prefect worker's, a test server's): the
    release may not fork workers then."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        release(settings, None, ["blog"], now)
    finally:
        stop.set()
        other.join()


def test_the_feed_made_in_a_worker_is_the_feed_made_in_process(settings: Settings) -> None:
    """The Atom feed's XML of a release of many posts is made by feedgen in a worker (its lxml
    stays out of the release's process, which would hold it to its end) and is the same feed
    the release's own process makes when it cannot fork a worker (another thread alive)."""
    printed = blog_release_in_fresh_process(
        settings,
        before=RUN_APART_SPY + "import outreach.channels.blog as blog\nblog.FEED_APART_FROM = 1\n",
        after="print(apart.count('atom_feed_xml'),\n"
        "      [m for m in ('lxml.etree', 'feedgen.feed') if m in sys.modules])\n",
    )
    assert printed == "1 []", "the feed was made in a worker, with no lxml in the release"
    feed = settings.paths.public / "feed.atom"
    made_apart = feed.read_bytes()
    for folder in (settings.paths.public, settings.paths.state):
        shutil.rmtree(folder)
    _release_with_another_thread_alive(settings, FRESH_PROCESS_NOW)
    assert feed.read_bytes() == made_apart
    parsed = feedparser.parse(made_apart)
    assert not parsed.bozo and len(parsed.entries) >= 2
    assert all(entry.content[0].value for entry in parsed.entries)


def test_a_release_of_a_few_posts_makes_its_feed_in_process(settings: Settings) -> None:
    """A release that renders a few posts (an edit) starts no worker for its feed: the fork
    and feedgen's import would cost it more than it saves (its peak is low)."""
    printed = blog_release_in_fresh_process(
        settings,
        before=RUN_APART_SPY,
        after="print(apart.count('atom_feed_xml'), 'feedgen.feed' in sys.modules)\n",
    )
    assert printed == "0 True"
    assert feedparser.parse((settings.paths.public / "feed.atom").read_bytes()).entries


def test_with_other_threads_alive_the_release_draws_the_site_card_itself(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker is started for one image from a forkserver (a second's start)."""
    draw_site_card.cache_clear()
    apart = _counted_at_close(monkeypatch, "apart")
    _release_with_another_thread_alive(settings, NOW)
    card = (settings.paths.public / SITE_CARD_PATH).read_bytes()
    assert apart == [0]
    assert card == _draw_site_card(settings.site.title, settings.site.tagline, "")


def test_a_blog_release_process_loads_no_font_library(settings: Settings) -> None:
    """Pillow's fonts, FreeType and HarfBuzz stay in the workers that draw (memory the
    release would otherwise hold to its end). Workers draw any number of share images here,
    as they do for a release of many findings."""
    printed = blog_release_in_fresh_process(
        settings,
        before="from outreach import ahead\nahead.MIN_CALLS = 1\n",
        after="assert (settings.paths.public / 'assets' / 'share.png').is_file()\n"
        "print(sorted(m for m in ('PIL.ImageFont', 'PIL._imagingft', 'PIL.ImageDraw')\n"
        "             if m in sys.modules))\n",
    )
    assert printed == "[]"


def test_the_site_card_forks_one_worker_not_one_per_core() -> None:
    """A forked pool starts all its workers at once: one small image must not fork a
    process per core. The one worker stops after the card, so later pools may still fork.
    In a new process: workers are forked only from a process with one thread."""
    script = (
        "import threading\n"
        "from outreach import ahead\n"
        "from outreach.share_image import _draw_site_card\n"
        "started = []\n"
        "start = ahead.Ahead._start\n"
        "def recording(self, fork, workers=None):\n"
        "    started.append((fork, workers))\n"
        "    return start(self, fork, workers)\n"
        "ahead.Ahead._start = recording\n"
        "workers = ahead.Ahead(workers=8)\n"
        "card = workers.run_apart(_draw_site_card, ('Site', 'A tagline', ''))\n"
        "assert card == _draw_site_card('Site', 'A tagline', '')\n"
        "print(started, workers.apart, threading.active_count(), ahead._may_fork())\n"
        "workers.close()\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[(True, 1)] 1 1 True"
