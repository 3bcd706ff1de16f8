"""Freed memory is handed back to the system every few batches of a release, not after each
(a trim costs 0.3 ms) but after every part of the site pages, and a release whose C library
is not glibc still runs."""

from __future__ import annotations

import pytest

from conftest import AFTER_EMBARGO
from outreach import heap
from outreach.config import Settings
from outreach.release import release


def test_the_heap_is_trimmed_every_few_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    monkeypatch.setattr(heap, "give_back_freed_memory", lambda: trims.append(1))
    trimmer = heap.BatchTrimmer(every=4)
    for _ in range(9):
        trimmer.batch_done()
    assert len(trims) == 2
    trimmer.batch_done(large=True)  # site pages: trimmed after each part
    assert len(trims) == 3


def test_trimming_gives_memory_back_or_does_nothing_without_glibc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(heap, "_trim", heap._trim)  # put back after the test
    monkeypatch.setattr(heap, "_looked_up", False)
    monkeypatch.setattr(heap, "_libc_function", lambda name: lambda pad: calls.append(pad) or 1)
    heap.give_back_freed_memory()
    assert calls == [0], "glibc's malloc_trim(0): every free page goes back"
    monkeypatch.setattr(heap, "_looked_up", False)
    monkeypatch.setattr(heap, "_libc_function", lambda name: None)
    heap.give_back_freed_memory()  # no malloc_trim: nothing happens
    assert calls == [0]


def test_a_release_trims_the_heap_once_its_site_pages_are_out(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small release (one batch of findings, a part of site pages for each kind the blog
    renders) still gives back what its site pages took, once each part is published."""
    trims: list[int] = []
    monkeypatch.setattr(heap, "give_back_freed_memory", lambda: trims.append(1))
    report = release(settings, None, ["blog"], AFTER_EMBARGO)
    assert report.changed and (settings.paths.public / "sitemap.xml").is_file()
    assert trims, "trimmed after the site pages' parts (a batch of findings alone: not yet)"
