"""Freed memory handed back to the system between a release's batches.

A batch renders pages of 10-100 KB each; Python frees them once the batch is published, but
glibc's allocator keeps the freed space in its heap, and the few allocations that outlive a
batch (a database page, a render key) sit between the freed ones, so the heap only grows:
about 2 MB more at the end of a 10,000-finding build than at 1,000. ``malloc_trim`` gives the
free pages back (0.3 ms a call here, so once every few batches); pages of a megabyte or more
(a topic page at 10,000 findings) get mappings of their own, handed back whole when freed.
Where the C library is not glibc, nothing is done.
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


def glibc_allocator() -> bool:
    """Whether the C library's allocator takes glibc's settings (``mallopt``)."""
    return _libc_function("mallopt") is not None


MMAP_THRESHOLD = 256 * 1024
"""Blocks from this size up get mappings of their own (glibc's ``M_MMAP_THRESHOLD``)."""
_M_MMAP_THRESHOLD = -3
"""``mallopt``'s parameter number for it (glibc's malloc.h)."""
_fixed = False


def keep_large_blocks_apart() -> None:
    """Give every block of ``MMAP_THRESHOLD`` or more a mapping of its own, for good (once a
    process; a no-op without glibc).

    glibc starts there too, but raises the threshold to the size of each mapped block freed:
    after a few pages of a megabyte or more (a topic page at 10,000 findings), the next ones
    come from the heap, where a freed page stays in the process and a buffer grown piece by
    piece is copied to a larger place. Kept at a fixed size, such a buffer grows in place
    (``mremap``) and is handed back whole when freed: 1 MB off a 10,000-finding build's peak."""
    global _fixed
    if _fixed:
        return
    _fixed = True
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


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

    def batch_done(self) -> None:
        self.batches += 1
        if self.batches % self.every == 0:
            give_back_freed_memory()
