"""Freed memory is handed back to the system every few batches of a release, not after each
(a trim costs 0.3 ms), and a release whose C library cannot trim still runs."""

from __future__ import annotations

import pytest

from outreach import heap


def test_the_heap_is_trimmed_every_few_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    monkeypatch.setattr(heap, "give_back_freed_memory", lambda: trims.append(1))
    trimmer = heap.BatchTrimmer(every=4)
    for _ in range(9):
        trimmer.batch_done()
    assert len(trims) == 2


def test_trimming_gives_memory_back_or_does_nothing_without_glibc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heap.give_back_freed_memory()  # glibc here: returns without error
    monkeypatch.setattr(heap, "_looked_up", True)
    monkeypatch.setattr(heap, "_trim", None)
    heap.give_back_freed_memory()  # no malloc_trim: nothing happens
