"""Freed memory handed back to the system between a release's batches.

A batch renders pages of 10-100 KB each; Python frees them once the batch is published, but
glibc's allocator keeps the freed space in its heap, and the few allocations that outlive a
batch (a database page, a render key) sit between the freed ones, so the heap only grows:
about 2 MB more at the end of a 10,000-finding build than at 1,000. ``malloc_trim`` gives the
free pages back (0.3 ms a call here, so once every few batches, and after every part of the
site pages: a topic page of a 10,000-finding site is 1.5 MB, freed once published). Where the
C library is not glibc, nothing is done.
"""

from __future__ import annotations

from collections.abc import Callable

TRIM_EVERY = 4
"""Batches between two trims: as low a peak as trimming after every batch, a quarter of the
cost (about 3 ms in a 1,000-finding build)."""


def _libc_function(name: str) -> Callable[..., int] | None:
    """A function of the C library (None: it has none by that name: not glibc)."""
    try:
        import ctypes  # loaded by a release's first flush to disk anyway (files.py)

        return getattr(ctypes.CDLL(None), name, None)
    except OSError:
        return None


_trim: Callable[[int], int] | None = None
_looked_up = False


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, looked up once (None: this C library has none)."""
    global _trim, _looked_up
    if not _looked_up:
        _looked_up = True
        _trim = _libc_function("malloc_trim")
    return _trim


def give_back_freed_memory() -> None:
    """Return the allocator's free pages to the system (a no-op without glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class BatchTrimmer:
    """Counts a release's published batches and trims the heap every ``every`` of them."""

    def __init__(self, every: int = TRIM_EVERY) -> None:
        self.every = max(1, every)
        self.batches = 0

    def batch_done(self, large: bool = False) -> None:
        """A batch was published; ``large``: its files were large ones (site pages, which
        grow with the site: a topic page of 10,000 findings is 1.5 MB), trimmed after at
        once, before the next such page is rendered beside the freed one."""
        self.batches += 1
        if large or self.batches % self.every == 0:
            give_back_freed_memory()
