"""Platforms receive deliverables and return receipts. ``static`` writes the site folder."""

from __future__ import annotations

from outreach.platforms.base import Batch, Platform, Receipt
from outreach.platforms.static import StaticSite

__all__ = ["Batch", "Platform", "Receipt", "StaticSite"]
