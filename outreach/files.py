"""Writing files: atomically, and readable only by those they are for.

The state folder holds personal data (subscribers), embargoed press-kit addresses (the
ledger), signing secrets and cached audio; the outbox holds messages with personal tokens.
They are 0600 files in 0700 folders whatever the umask, and files or folders made by an
older version are tightened when opened. Public files (the site, previews) are 0644 in 0755
folders whatever the umask, so a web server running as another user can read them.

Durability. A file that replaces another is synced before its new name points at it, so
across a power cut a reader finds the old file or the new one, whole. A new file (nothing
at its name before) has no old version to protect: ``DeferredSync`` writes it without a sync
of its own and makes a whole batch durable with one ``syncfs`` of its filesystem (contents,
new names and folders alike), which the ledger runs before it commits the batch's records
(``Ledger.settle_before_commit``). So the ledger never records a file that is not durably on
disk; after a power cut in the middle of a batch a new file may be empty, unrecorded and
linked from nowhere (site pages are published after every finding's files), and the next
release writes it again.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
import threading
from pathlib import Path
from typing import TypeVar

PRIVATE_FILE = 0o600
PUBLIC_FILE = 0o644
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""Files SQLite keeps next to a database; it gives them the database file's mode."""


PathT = TypeVar("PathT", str, Path)


def folder_mode(file_mode: int) -> int:
    """The folder mode that goes with a file mode: whoever may read a file may enter its
    folder (0600 -> 0700, 0644 -> 0755)."""
    return file_mode | ((file_mode & 0o444) >> 2)


def make_folders(path: PathT, mode: int) -> PathT:
    """Create ``path`` and its missing parents with exactly ``mode`` (mkdir alone would let
    the umask decide); folders that already exist are left as they are. Worked out on the
    path's text: a site build makes a folder per finding, and pathlib would intern each
    folder's name for good (``StaticSite._file``)."""
    missing: list[str] = []
    current = os.fspath(path) or "."
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current) or "."
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:  # another process made it first
            if not os.path.isdir(folder):
                raise
            continue
        os.chmod(folder, mode)
    return path


def private_folder(path: Path) -> Path:
    """``path`` as a folder only its owner can open: created 0700 with its missing parents,
    or tightened to 0700 if it exists and others may read it."""
    make_folders(path, 0o700)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def tighten(path: Path) -> None:
    """Take every permission but the owner's off an existing file (one an older version made)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & 0o700)


def private_database(path: Path) -> Path:
    """Make a SQLite file ready to open as owner-only: a 0700 folder and a 0600 database.

    SQLite creates a new database with the umask's mode (0644 under the usual 022) and gives
    its -wal, -shm and -journal files the database's mode, so the database is created here
    first, with 0600; existing files are tightened."""
    private_folder(path.parent)
    for companion in SQLITE_COMPANIONS:
        tighten(path.with_name(path.name + companion))
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        tighten(path)
    else:
        os.close(descriptor)
    return path


def atomic_write(
    path: str | Path, content: bytes, mode: int = PUBLIC_FILE, *, sync: bool = True
) -> None:
    """Replace ``path`` with ``content`` so no reader ever sees a partial file.

    The file gets exactly ``mode`` whatever the umask (public by default; PRIVATE_FILE for
    state and mail), and missing folders the matching folder mode (0755, or 0700).
    ``sync``: the bytes reach the disk before the name points at them; without it the caller
    makes the file durable later (``DeferredSync``). Plain descriptor calls, not ``tempfile``
    and a file object: a site build writes every page through here (``path`` as text, so
    pathlib interns no name of it, as ``StaticSite._file`` says)."""
    try:
        descriptor, temp = _new_temporary(path, mode)
    except FileNotFoundError:  # the folder is not there yet
        make_folders(os.path.dirname(path), folder_mode(mode))
        descriptor, temp = _new_temporary(path, mode)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fchmod(descriptor, mode)
            if sync:  # the bytes are on disk before the name points at them
                os.fdatasync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


_TEMPORARY_NUMBERS = itertools.count()


def _new_temporary(path: str | Path, mode: int) -> tuple[int, str]:
    """A new, empty file beside ``path``, named ``.{name}.{process}-{number}.tmp`` (what the
    site check skips as a write in progress); a name left by a killed run is passed over."""
    folder, name = os.path.split(path)
    while True:
        temp = f"{folder or '.'}/.{name}.{os.getpid()}-{next(_TEMPORARY_NUMBERS)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            return os.open(temp, flags, mode & 0o600), temp
        except FileExistsError:
            continue


def sync_filesystem(folder: str | Path) -> None:
    """Flush every written file, name and folder of the filesystem holding ``folder`` to disk
    (Linux ``syncfs``; ``sync`` of every filesystem where there is no ``syncfs``)."""
    import ctypes  # only when a batch settles: a release that writes nothing never loads it

    libc = ctypes.CDLL(None, use_errno=True)
    syncfs = getattr(libc, "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    folder = os.fspath(folder)
    while not os.path.isdir(folder) and folder != (os.path.dirname(folder) or "."):
        folder = os.path.dirname(folder) or "."  # removed since: the filesystem it was on
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(descriptor) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"could not flush {folder} to disk: {os.strerror(error)}")
    finally:
        os.close(descriptor)


class DeferredSync:
    """Atomic writes whose new files are made durable together, by ``settle()``.

    A file that replaces one is synced at once (old or new across a power cut, as with
    ``atomic_write``); a new one only joins the pending filesystems. ``settle()`` flushes each
    pending filesystem once: one disk flush for a batch of files instead of one per file."""

    def __init__(self) -> None:
        self._pending: dict[int, str] = {}
        """Filesystem (st_dev) -> a folder on it with files written since the last settle."""
        self._lock = threading.Lock()

    def write(self, path: str | Path, content: bytes, mode: int = PUBLIC_FILE) -> None:
        if os.path.lexists(path):
            atomic_write(path, content, mode)
            return
        atomic_write(path, content, mode, sync=False)
        folder = os.path.dirname(path) or "."
        device = os.stat(folder).st_dev
        with self._lock:
            self._pending.setdefault(device, folder)  # text: no Path, no name interned

    def settle(self) -> None:
        """Every file written so far is on disk (raises OSError when the flush fails, and
        keeps the files pending)."""
        with self._lock:
            for device, folder in list(self._pending.items()):
                sync_filesystem(folder)
                del self._pending[device]
