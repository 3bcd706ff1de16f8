"""Channel registry: every module in this package that defines ``CHANNEL`` is a channel, and
``register_channel`` adds one from anywhere else (a plugin, a test).

Adding a channel means adding one module here (or registering it); the release sequence
calls every channel's steps and hooks and names none of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

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


def available_channels() -> dict[str, Channel]:
    """Every channel: this package's modules, then registered ones."""
    return {**_built_in(), **_registered}


@lru_cache(maxsize=1)
def _built_in() -> dict[str, Channel]:
    found: dict[str, Channel] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        channel = getattr(module, "CHANNEL", None)
        if channel is not None:
            found[channel.name] = channel
    return found


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
