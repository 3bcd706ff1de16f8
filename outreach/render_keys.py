"""Content keys for rendered output: equal keys mean equal inputs, so the output need not be
rendered again.

A finding's key covers everything its pages are made from: the finding itself, the media
files it names (by size and modification time), the configuration, the templates and press
data, and the pipeline's own code. A site page's key covers the keys of the findings it
lists. Keys are kept in the ledger once what they describe is published.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import outreach
from outreach.config import Settings
from outreach.finding import Finding

CODE = Path(outreach.__file__).resolve().parent


def _tree(folder: Path, pattern: str = "*") -> Iterable[bytes]:
    if not folder.is_dir():
        return
    for path in sorted(p for p in folder.rglob(pattern) if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        yield str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes()


def inputs_digest(settings: Settings) -> str:
    """What every rendered file depends on besides its findings."""
    digest = hashlib.sha256(settings.model_dump_json().encode())
    for part in (
        *_tree(CODE, "*.py"),
        *_tree(settings.paths.templates),
        *_tree(settings.paths.press),
    ):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def media_signatures(finding: Finding, settings: Settings) -> list[str]:
    """Size and modification time of each media file the finding names."""
    media = settings.paths.media
    names = [finding.image.file]
    if finding.episode is not None:
        episode = finding.episode
        names += [episode.audio, episode.transcript, episode.image, str(settings.podcast.cover)]
    signatures = []
    for name in names:
        if name:
            try:
                stat = (media / name).stat()
            except FileNotFoundError:
                signatures.append(f"{name}:missing")
            else:
                signatures.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return signatures


EDITORIAL_DEFAULTS: dict[str, object] = {"status": "ready", "correction": [], "retraction": None}


def finding_key(
    channel: str, finding: Finding, settings: Settings, inputs: str, *extra: str
) -> str:
    # Editorial fields left at their defaults stay out, so keys recorded before they existed
    # still match (nothing is rendered again for an unchanged finding after an upgrade).
    unset = {
        name for name, default in EDITORIAL_DEFAULTS.items() if getattr(finding, name) == default
    }
    parts = [
        channel, inputs, finding.model_dump_json(exclude={"body", *unset}), finding.body_sha256,
        *media_signatures(finding, settings), *extra,
    ]  # fmt: skip
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def page_key(channel: str, unit: str, inputs: str, finding_keys: Iterable[str]) -> str:
    parts = [channel, unit, inputs, *finding_keys]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
