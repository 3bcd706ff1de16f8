"""How each release step runs. The plain runner calls the steps directly (``outreach build``,
``release()``, the benchmarks, the tests); the Prefect flows supply a runner that wraps the
steps with side effects in tasks (retries, concurrency limits, artifacts, the pitch approval
pause) and calls the plain ones (``step``) directly.

The order of the steps is not here: it lives in ``outreach.release.run_release`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from outreach.actions import Action, ActionContext, run_gated
from outreach.channels import get_channel
from outreach.config import Settings
from outreach.files import DeferredSync
from outreach.ledger import Ledger
from outreach.platforms.base import Platform
from outreach.platforms.registry import make_platform
from outreach.platforms.static import StaticSite
from outreach.release_steps import ChannelPlan, Held, open_platforms, publish_stage
from outreach.request import ReleaseRequest
from outreach.vocabulary import Receipt

if TYPE_CHECKING:  # the preview's email modules load with a preview (not for a release)
    from outreach.preview import EmailPreview

T = TypeVar("T")


class Runner(Protocol):
    def step(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        """Run one plain step (validate, render, check platforms) and return its result."""
        ...

    def secrets(self) -> Mapping[str, str]:
        """Platform credentials for this run (never logged)."""
        ...

    def check_platforms(self, settings: Settings, channels: Sequence[str]) -> list[str]:
        """Reach every platform the channels push to, with its credentials, before any push;
        returns their names (raises ReleaseError naming every problem)."""
        ...

    def prepare(self, channel: str, publication: Any, settings: Settings, key: str) -> object:
        """The channel's slow work for one publication (mastering), cached by ``key``; what
        it returns is passed to rendering."""
        ...

    def publish(
        self,
        settings: Settings,
        plans: Sequence[ChannelPlan],
        platform: str,
        site_wide: bool,
        now: datetime,
        dry_run: bool,
    ) -> list[Receipt]:
        """One platform's share of some plans: publications' batches, or site-wide ones."""
        ...

    def act(self, action: Action, context: ActionContext) -> list[str]:
        """Execute one after-publish action; returns notes for the report."""
        ...

    def after_release(self, held: Sequence[Held], request: ReleaseRequest) -> list[str]:
        """Work only the runner can do once the release is out (scheduling the lifts)."""
        ...


class PlainRunner:
    """Every step called directly, in this process."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._secrets = dict(secrets or {})
        self._platforms: dict[str, Platform] = {}
        self._ledgers: dict[Path, Ledger] = {}
        """One ledger object per file for the run: opening one checks its schema, and a
        release publishes a few dozen batches."""

    def step(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    def secrets(self) -> Mapping[str, str]:
        return self._secrets

    def check_platforms(self, settings: Settings, channels: Sequence[str]) -> list[str]:
        plans = [ChannelPlan(name) for name in channels]
        self._platforms.update(open_platforms(settings, plans, self._secrets))
        return list(self._platforms)

    def prepare(self, channel: str, publication: Any, settings: Settings, key: str) -> object:
        return get_channel(channel).prepare(publication, settings)

    def publish(
        self,
        settings: Settings,
        plans: Sequence[ChannelPlan],
        platform: str,
        site_wide: bool,
        now: datetime,
        dry_run: bool,
    ) -> list[Receipt]:
        if platform not in self._platforms:
            self._platforms[platform] = make_platform(settings, platform, self._secrets)
        ledger = self._ledgers.get(settings.paths.ledger)
        if ledger is None:
            ledger = self._ledgers[settings.paths.ledger] = Ledger(settings.paths.ledger)
        return publish_stage(
            settings, plans, self._platforms[platform], ledger, now, site_wide, dry_run
        )

    def act(self, action: Action, context: ActionContext) -> list[str]:
        return run_gated(action, context)

    def after_release(self, held: Sequence[Held], request: ReleaseRequest) -> list[str]:
        return []


class PreviewRunner(PlainRunner):
    """The release sequence into the build folder for review: files written as rendered,
    and the emails the actions would send written as previews (``emails``); no platform,
    ledger or outside world touched."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        super().__init__(secrets)
        self.emails: list[EmailPreview] = []
        self._writes = DeferredSync()
        """New files unsynced, made durable once per call (a batch), as a release's are."""

    def publish(
        self,
        settings: Settings,
        plans: Sequence[ChannelPlan],
        platform: str,
        site_wide: bool,
        now: datetime,
        dry_run: bool,
    ) -> list[Receipt]:
        preview = StaticSite(settings.paths.build, settings.site.base_url)
        receipts: list[Receipt] = []
        # Each call's new files are flushed together before it returns (one syncfs, as a
        # release's batch): every publication's files are durable before any site page that
        # links to them is written, and a file replacing an older one is synced before its
        # rename (``DeferredSync``), so a power cut leaves old or new files, whole.
        for plan in plans:
            for batch in plan.batches:
                for deliverable in batch.deliverables:
                    self._writes.write(preview.target(deliverable.path), deliverable.content)
                    receipts.append(
                        Receipt(plan.channel, "preview", batch.finding_id, deliverable.path,
                                "created", None)
                    )  # fmt: skip
        self._writes.settle()
        return receipts

    def act(self, action: Action, context: ActionContext) -> list[str]:
        from outreach.preview import render_action

        previews = render_action(action, context, context.settings.paths.build)
        self.emails += previews
        return [f"Preview ({p.kind} to {p.recipient}): {p.html_path}" for p in previews]
