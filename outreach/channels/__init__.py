"""Channel registry: every module in this package that defines ``CHANNEL`` is a channel.

Adding a channel means adding one module here; the release flow finds it by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from outreach.channels.base import Channel, Deliverable, RenderError, Site

__all__ = ["Channel", "Deliverable", "RenderError", "Site", "available_channels", "get_channel"]


@lru_cache(maxsize=1)
def available_channels() -> dict[str, Channel]:
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
