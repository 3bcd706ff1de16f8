"""Channel registry: every module in this package that defines ``CHANNEL`` is a channel, and
``register_channel`` adds one from anywhere else (a plugin, a test).

Adding a channel means adding one module here (or registering it); the release sequence
calls every channel's steps and hooks and names none of them.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from pathlib import Path

from outreach.channels.base import Channel, Deliverable, RenderError, Site
from outreach.config import Settings

__all__ = [
    "Channel",
    "Deliverable",
    "RenderError",
    "Site",
    "available_channels",
    "get_channel",
    "register_channel",
    "site_offers",
    "unregister_channel",
]

_registered: dict[str, Channel] = {}


def register_channel(channel: Channel) -> Channel:
    """Add a channel that does not live in this package; returns it."""
    _registered[channel.name] = channel
    return channel


def unregister_channel(name: str) -> None:
    _registered.pop(name, None)


def available_channels() -> Mapping[str, Channel]:
    """Every channel: this package's modules, then registered ones. A built-in channel's
    module is imported only when the channel itself is asked for, so a release of one
    channel does not load every other channel's libraries (memory and start-up time)."""
    return _Channels({**_built_in(), **_registered})


class _Channels(Mapping[str, Channel]):
    """Channel names known without importing; a built-in channel is imported on lookup."""

    def __init__(self, entries: dict[str, Channel | str]) -> None:
        self._entries = entries

    def __getitem__(self, name: str) -> Channel:
        entry = self._entries[name]
        return _load(entry) if isinstance(entry, str) else entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


_DEFINES_CHANNEL = re.compile(r"^CHANNEL\b", re.MULTILINE)


@lru_cache(maxsize=1)
def _built_in() -> dict[str, str]:
    """Channel name -> module: each module here that assigns ``CHANNEL`` at its top level is
    the channel named after the module (checked when it is imported)."""
    found: dict[str, str] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        source = Path(__path__[0], f"{module_info.name}.py")
        if source.is_file() and _DEFINES_CHANNEL.search(source.read_text(encoding="utf-8")):
            found[module_info.name] = f"{__name__}.{module_info.name}"
    return found


@cache
def _load(module_name: str) -> Channel:
    module = importlib.import_module(module_name)
    channel = getattr(module, "CHANNEL", None)
    expected = module_name.rsplit(".", 1)[-1]
    if channel is None or channel.name != expected:
        raise ImportError(
            f"{module_name} must define CHANNEL, a channel named '{expected}' after its module"
        )
    return channel


def get_channel(name: str) -> Channel:
    channels = available_channels()
    if name not in channels:
        raise KeyError(f"no channel named '{name}'; choose from: {', '.join(sorted(channels))}")
    return channels[name]


def site_offers(settings: Settings) -> frozenset[str]:
    """The site sections the configured channels host (posts, episodes, press kits): what
    the URL map links to, so a channel never asks which other channels are on."""
    channels = available_channels()
    return frozenset(
        section
        for name in settings.channels
        if name in channels
        for section in getattr(channels[name], "hosts", ())
    )
