"""A release's receipts, kept on disk as they come, so memory does not grow with the site.

A release returns a receipt for every file it published or kept (three or more a finding);
held in a list they were about 0.7 KB a finding, 7 MB at 10,000. Here they are appended to
one anonymous temporary file in pickled chunks as the batches come in; memory holds the
chunk being filled and where each chunk lies. Reading them (the report, the after-publish
hooks) goes through the file one chunk at a time.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter
from typing import IO, Any, overload

from outreach.vocabulary import Receipt

_VALUES = attrgetter("channel", "platform", "finding_id", "item", "action", "url")
"""A receipt's fields in ``Receipt``'s order: what a spilled chunk keeps of each."""
CHUNK = 1024
"""Receipts per pickled chunk: a few hundred KB in memory at most, few disk writes."""


class ReceiptLog(Sequence[Receipt]):
    """An append-only sequence of receipts that spills full chunks to a temporary file
    (opened on the first full chunk: a small release never touches the disk)."""

    def __init__(self, receipts: Iterable[Receipt] = ()) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0
        self._chunks: list[tuple[int, int, int]] = []
        """(offset, length, count) of each chunk in the file, in order."""
        self._buffer: list[Receipt] = []
        self._spilled = 0
        self.extend(receipts)

    def extend(self, receipts: Iterable[Receipt]) -> None:
        for receipt in receipts:
            self._buffer.append(receipt)
            if len(self._buffer) >= CHUNK:
                self._spill()

    def append(self, receipt: Receipt) -> None:
        self.extend((receipt,))

    def _spill(self) -> None:
        if self._file is None:
            # Unlinked from the start: gone when closed or when the process ends.
            self._file = tempfile.TemporaryFile(prefix="outreach-receipts-")  # noqa: SIM115
        # As rows of six values (taken at C speed): pickling the receipts themselves calls
        # each one's ``__reduce__``, half the cost of a release's spill.
        data = pickle.dumps(list(map(_VALUES, self._buffer)), protocol=pickle.HIGHEST_PROTOCOL)
        os.pwrite(self._file.fileno(), data, self._end)
        self._chunks.append((self._end, len(data), len(self._buffer)))
        self._end += len(data)
        self._spilled += len(self._buffer)
        self._buffer = []

    def _chunk(self, number: int) -> list[Receipt]:
        assert self._file is not None
        offset, length, _ = self._chunks[number]
        return [
            Receipt(*row) for row in pickle.loads(os.pread(self._file.fileno(), length, offset))
        ]

    def __len__(self) -> int:
        return self._spilled + len(self._buffer)

    def __iter__(self) -> Iterator[Receipt]:
        for number in range(len(self._chunks)):
            yield from self._chunk(number)
        yield from list(self._buffer)

    @overload
    def __getitem__(self, index: int) -> Receipt: ...
    @overload
    def __getitem__(self, index: slice) -> list[Receipt]: ...
    def __getitem__(self, index: int | slice) -> Receipt | list[Receipt]:
        if isinstance(index, slice):
            return list(self)[index]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError("receipt index out of range")
        for number, (_, _, count) in enumerate(self._chunks):
            if position < count:
                return self._chunk(number)[position]
            position -= count
        return self._buffer[position]

    def select(self, wanted: Callable[[Receipt], bool]) -> Sequence[Receipt]:
        """The receipts ``wanted`` accepts among those logged so far: a view read through
        this log when it is used (memory stays bounded, and a hook that never looks at its
        receipts costs nothing)."""
        return Selection(self, wanted, len(self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(
                a == b for a, b in zip(self, other, strict=False)
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ReceiptLog({len(self)} receipts)"

    def __reduce__(self) -> tuple[Any, ...]:
        """A copy or pickle (a Prefect result) carries the receipts, not the file."""
        return (ReceiptLog, (list(self),))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __del__(self) -> None:
        self.close()


class Selection(Sequence[Receipt]):
    """Some of a log's receipts (those ``wanted`` accepts among its first ``end``), read
    through the log on demand; the log is append-only, so the view never changes."""

    def __init__(self, log: ReceiptLog, wanted: Callable[[Receipt], bool], end: int) -> None:
        self._log, self._wanted, self._end = log, wanted, end
        self._count: int | None = None

    def __iter__(self) -> Iterator[Receipt]:
        for _, receipt in zip(range(self._end), self._log, strict=False):
            if self._wanted(receipt):
                yield receipt

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self)
        return self._count

    @overload
    def __getitem__(self, index: int) -> Receipt: ...
    @overload
    def __getitem__(self, index: slice) -> list[Receipt]: ...
    def __getitem__(self, index: int | slice) -> Receipt | list[Receipt]:
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Selection({len(self)} receipts)"

    def __reduce__(self) -> tuple[Any, ...]:
        """A copy or pickle (a Prefect task's input) carries the receipts themselves."""
        return (ReceiptLog, (list(self),))
