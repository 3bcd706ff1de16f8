"""The demo (``outreach release --all --demo``, run by ``make demo``): sample subscribers at
example.org addresses, and every gate approved, so the outbox shows each channel's email.

Only with the outbox: the demo approval refuses to apply when mail goes over SMTP, so a team
that switches ``mail.platform`` to "smtp" and keeps running ``make demo`` mails nobody.
"""

from __future__ import annotations

from datetime import datetime

from outreach.config import GATES, Settings
from outreach.gates import ApprovalError
from outreach.subscribers import SubscriberStore

SAMPLE_SUBSCRIBERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ama.mensah@example.org": ("Ama Mensah", ("food-agriculture",)),
    "li.wei@example.org": ("Li Wei", ("apparel-textiles", "plastics-packaging")),
    "sam.okoro@example.org": ("Sam Okoro", ("food-agriculture", "responsible-sourcing")),
    "rosa.diaz@example.org": ("Rosa Diaz", ("landscapes-commodities", "scope-3-climate")),
}
"""Fictional readers (example.org is reserved for examples): together they follow every
topic, so each sample finding's newsletter reaches someone."""
DEMO_SOURCE = "demo sample (example.org, make demo)"


def demo_approvals(settings: Settings) -> dict[str, bool]:
    """Every gate approved, for the demo: refused (ApprovalError) unless mail goes to the
    outbox, where nothing leaves the machine."""
    if settings.mail.platform != "outbox":
        raise ApprovalError(
            f"--demo approves every email without asking, so it only works with "
            f'mail.platform = "outbox" (this configuration sends over '
            f"{settings.mail.platform}); drop --demo and approve with 'outreach approve', or "
            'set mail.platform = "outbox" for a demo'
        )
    return dict.fromkeys(GATES, True)


def add_sample_subscribers(settings: Settings, now: datetime) -> int:
    """Sign up and confirm the sample readers (those already there are left as they are);
    returns how many are confirmed."""
    demo_approvals(settings)
    store = SubscriberStore(settings.paths.subscribers)
    confirmed = 0
    for email, (name, topics) in SAMPLE_SUBSCRIBERS.items():
        store.sign_up(email, name, topics, DEMO_SOURCE, now)
        confirmed += store.confirm(email, now)
    return confirmed
