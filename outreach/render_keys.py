"""Content keys for rendered output: equal keys mean equal inputs, so the output need not be
rendered again.

A finding's key covers everything its pages are made from: the finding itself, the media
files it names (by size and modification time), the configuration, the templates and press
data, and the pipeline's own code. The finding and its media are one fingerprint, taken when
the finding is read (or found unchanged in the finding cache). A site page's key covers the
keys of the findings it lists. Keys are kept in the ledger once what they describe is published.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import outreach
from outreach.config import Settings
from outreach.files import PRIVATE_FILE, atomic_write
from outreach.finding import Finding

CODE = Path(outreach.__file__).resolve().parent


INPUTS_CACHE = Path("cache") / "inputs.json"
"""Under the state folder: the last ``inputs_digest`` and the stats of the files it read."""
SETTLE_NS = 2_000_000_000
"""A file changed less than this long ago may change again with the same stat (as the finding
cache's files): its stat is not trusted, and the digest is taken from the bytes each time."""

Listing = list[tuple[tuple[str, ...], str]]
"""(path parts relative to the tree, full path) of each file of a tree, in the parts' order."""


def _listing(folder: Path, suffix: str = "") -> Listing:
    """Each file under ``folder`` whose name ends with ``suffix`` (not in ``__pycache__``, not
    under a linked folder), in the order of the paths' parts. Listed with ``os.scandir``, whose
    entries know files from folders without a stat each: every release lists the pipeline's
    code (about 140 files)."""
    if not folder.is_dir():
        return []
    found: Listing = []
    pending: list[tuple[tuple[str, ...], str]] = [((), str(folder))]
    while pending:
        prefix, parent = pending.pop()
        try:
            with os.scandir(parent) as entries:
                for entry in entries:
                    if entry.is_dir():
                        if entry.name != "__pycache__" and not entry.is_symlink():
                            pending.append(((*prefix, entry.name), entry.path))
                    elif entry.name.endswith(suffix) and entry.is_file():
                        found.append(((*prefix, entry.name), entry.path))
        except OSError:  # a folder removed meanwhile or not readable: skipped, as os.walk did
            continue
    return sorted(found)


def _tree(folder: Path, suffix: str = "", listing: Listing | None = None) -> Iterable[bytes]:
    """Each file of the tree (``_listing``): its relative path, a NUL and its bytes."""
    for parts, path in _listing(folder, suffix) if listing is None else listing:
        with open(path, "rb") as file:
            yield "/".join(parts).encode() + b"\0" + file.read()


def _stat_signature(described: str, listings: Iterable[Listing]) -> str | None:
    """One digest of ``described`` and the name, size, times and inode of every listed file
    (an edit changes the change time, also when the modification time is put back); None
    when a file changed too recently to be trusted, or went away."""
    now = time.time_ns()
    digest = hashlib.sha256(described.encode())
    for number, listing in enumerate(listings):
        for parts, path in listing:
            try:
                stat = os.stat(path)
            except OSError:
                return None
            if now - max(stat.st_mtime_ns, stat.st_ctime_ns) <= SETTLE_NS:
                return None
            digest.update(
                f"{number}/{'/'.join(parts)}\0{stat.st_size}:{stat.st_mtime_ns}:"
                f"{stat.st_ctime_ns}:{stat.st_ino}:{stat.st_dev}\n".encode()
            )
    return digest.hexdigest()


def installed_libraries() -> list[str]:
    """The name and version of every installed Python distribution (its ``.dist-info``
    folder's name), from the package folders on ``sys.path``. Rendered output depends on
    libraries as much as on the pipeline's own code (nh3's cleaning, Markdown, templates,
    feeds, images), so an upgrade must render again what it may have changed; one directory
    listing per folder, not a metadata read per library. Only ``site-packages`` and
    ``dist-packages`` folders: the working folder, also on the path, must not change keys."""
    names: list[str] = []
    for folder in sys.path:
        if not folder.endswith(("site-packages", "dist-packages")):
            continue
        try:
            with os.scandir(folder) as entries:
                names += [e.name for e in entries if e.name.endswith((".dist-info", ".egg-info"))]
        except OSError:  # a zip file or a folder that is gone: nothing installed there
            continue
    return sorted(names)


def inputs_digest(settings: Settings) -> str:
    """What every rendered file depends on besides its findings: the configuration, the
    pipeline's code, the libraries it renders with, the templates and the press data, by
    content.

    Reading and hashing every file (the code is about 1.2 MB) was a few milliseconds of every
    release; so the digest is remembered in the state folder's cache beside the stats of the
    files it was taken from, and taken from the bytes again whenever a stat differs (an edit,
    a checkout, a file added or removed, other settings or libraries), a file is too recent
    to trust, or the cache file is missing or damaged. Nothing is remembered before the
    project's first release (no cache folder yet)."""
    configuration = settings.model_dump_json()
    libraries = "\n".join(installed_libraries())
    listings = (
        _listing(CODE, ".py"),
        _listing(settings.paths.templates),
        _listing(settings.paths.press),
    )
    remembered = settings.paths.state / INPUTS_CACHE
    signature = _stat_signature(f"{configuration}\n{libraries}", listings)
    if signature is not None:
        known = _remembered(remembered)
        if known is not None and known[0] == signature:
            return known[1]
    digest = hashlib.sha256(configuration.encode())
    digest.update(libraries.encode())
    for (folder, suffix), listing in zip(
        ((CODE, ".py"), (settings.paths.templates, ""), (settings.paths.press, "")),
        listings,
        strict=True,
    ):
        for part in _tree(folder, suffix, listing):
            digest.update(hashlib.sha256(part).digest())
    found = digest.hexdigest()
    if signature is not None and remembered.parent.is_dir():
        data = json.dumps({"signature": signature, "digest": found}).encode()
        with contextlib.suppress(OSError):  # a cache: not written means taken again next time
            atomic_write(remembered, data, PRIVATE_FILE, sync=False)
    return found


def _remembered(path: Path) -> tuple[str, str] | None:
    """(signature, digest) remembered in ``path`` (None: none, or not readable as such)."""
    try:
        data = json.loads(path.read_bytes())
        signature, digest = data["signature"], data["digest"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not (isinstance(signature, str) and isinstance(digest, str)):
        return None
    return signature, digest


def media_names(finding: Finding) -> list[str]:
    """The media files a finding names: its image, and its episode's audio, transcript and
    art when it has them."""
    names = [finding.image.file]
    episode = finding.episode
    if episode is not None:
        names += [name for name in (episode.audio, episode.transcript, episode.image) if name]
    return names


def media_signatures(names: Iterable[str], media: Path) -> list[str]:
    """Size and modification time of each of the media files ``names``."""
    signatures = []
    for name in names:
        try:
            stat = os.stat(os.path.join(media, name))
        except FileNotFoundError:
            signatures.append(f"{name}:missing")
        else:
            signatures.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return signatures


EDITORIAL_DEFAULTS: dict[str, object] = {"status": "ready", "correction": [], "retraction": None}


def content_fingerprint(finding: Finding, media: Path) -> bytes:
    """One digest (32 bytes) of what a finding's pages are made from: its fields, its body and
    the media files it names. Taken once when a finding is shelved (``outreach.shelf``), so
    keys need not read the finding back."""
    # Editorial fields left at their defaults stay out, so a field added later does not
    # change the keys of findings that do not use it.
    unset = {
        name for name, default in EDITORIAL_DEFAULTS.items() if getattr(finding, name) == default
    }
    parts = [
        finding.model_dump_json(exclude={"body", *unset}),
        finding.body_sha256,
        *media_signatures(media_names(finding), media),
    ]
    return hashlib.sha256("\n".join(parts).encode()).digest()


def finding_key(
    channel: str, finding: Finding, settings: Settings, inputs: str, *extra: str
) -> str:
    """The content key of a finding's output on ``channel``: its fingerprint (the one taken
    when it was shelved, if any), the show's cover art for an episode, and ``extra``."""
    media = settings.paths.media
    fingerprint = getattr(finding, "known_fingerprint", None)
    if fingerprint is None:
        fingerprint = content_fingerprint(finding, media)
    episode = getattr(finding, "has_episode", None)
    if episode is None:
        episode = finding.episode is not None
    cover = media_signatures([str(settings.podcast.cover)], media) if episode else []
    parts = [channel, inputs, fingerprint.hex(), *cover, *extra]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def page_key(channel: str, unit: str, inputs: str, finding_keys: Iterable[str]) -> str:
    parts = [channel, unit, inputs, *finding_keys]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
