"""Freed memory is handed back to the system every few batches of a release, not after each
(a trim costs 0.3 ms), large pages are handed back whole, and a release whose C library is
not glibc still runs."""

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


FREED_PAGE = """
import sys
from outreach import heap
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
if sys.argv[1] == "apart":
    heap.keep_large_blocks_apart()
large = bytearray(4 << 20)
del large  # glibc alone now serves blocks under 4 MB from its heap
page = bytearray(1 << 20)  # a page of a megabyte, as a topic page at 10,000 findings
before = rss_kb()
del page
print(before - rss_kb())
"""


def _kilobytes_given_back(mode: str) -> int:
    """A fresh process frees a 4 MB block, then a 1 MB one: how much of the latter's memory
    leaves the process when it is freed."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", FREED_PAGE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@pytest.mark.skipif(not heap.glibc_allocator(), reason="glibc's allocator only")
def test_a_freed_large_page_leaves_the_process_whole() -> None:
    """Once a release keeps large blocks apart, a megabyte page freed after a larger one is
    handed back at once; with glibc's own rule it stays in the heap (the peak grows)."""
    assert _kilobytes_given_back("apart") >= 1000
    assert _kilobytes_given_back("glibc's own") < 100


def test_keeping_large_blocks_apart_is_done_once_and_does_nothing_without_glibc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(heap, "_fixed", False)
    monkeypatch.setattr(heap, "_libc_function", lambda name: lambda *a: calls.append(a) or 1)
    heap.keep_large_blocks_apart()
    heap.keep_large_blocks_apart()  # a second release in the same process: nothing more
    assert calls == [(-3, heap.MMAP_THRESHOLD)]
    monkeypatch.setattr(heap, "_fixed", False)
    monkeypatch.setattr(heap, "_libc_function", lambda name: None)
    heap.keep_large_blocks_apart()  # no mallopt: nothing happens
