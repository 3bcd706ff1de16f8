"""Content keys for rendered output: equal keys mean equal inputs, so the output need not be
rendered again.

A finding's key covers everything its pages are made from: the finding itself, the media
files it names (by size and modification time), the configuration, the templates and press
data, and the pipeline's own code. The finding and its media are one fingerprint, taken when
the finding is read (or found unchanged in the finding cache). A site page's key covers the
keys of the findings it lists. Keys are kept in the ledger once what they describe is published.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import outreach
from outreach.config import Settings
from outreach.finding import Finding

CODE = Path(outreach.__file__).resolve().parent


def _tree(folder: Path, suffix: str = "") -> Iterable[bytes]:
    """Each file under ``folder`` whose name ends with ``suffix`` (not in ``__pycache__``):
    its path relative to ``folder``, a NUL and its bytes, in the order of the paths' parts.
    Walked with ``os.walk``: every release hashes the pipeline's code (about 140 files), and
    ``Path.rglob`` took most of that time."""
    if not folder.is_dir():
        return
    found: list[tuple[tuple[str, ...], str]] = []
    for parent, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if name != "__pycache__"]
        within = os.path.relpath(parent, folder)
        prefix = () if within == "." else tuple(within.split(os.sep))
        for name in files:
            path = os.path.join(parent, name)
            if name.endswith(suffix) and os.path.isfile(path):
                found.append(((*prefix, name), path))
    for parts, path in sorted(found):
        with open(path, "rb") as file:
            yield "/".join(parts).encode() + b"\0" + file.read()


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
    pipeline's code, the libraries it renders with, the templates and the press data."""
    digest = hashlib.sha256(settings.model_dump_json().encode())
    digest.update("\n".join(installed_libraries()).encode())
    for part in (
        *_tree(CODE, ".py"),
        *_tree(settings.paths.templates),
        *_tree(settings.paths.press),
    ):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


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
