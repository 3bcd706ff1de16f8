"""Pitches: one short, personal email per matched journalist, sent at most once.

Each pitch has exactly one recipient, at most 200 words, both headlines, the embargo line
when there is one, and a link to the press kit (never an attachment). The ledger records each
journalist a finding was pitched to, so a re-run pitches nobody twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import quote

from outreach.audit import AuditRow, message_ref, recipient_id, without_addresses
from outreach.config import Settings
from outreach.errors import RenderError
from outreach.finding import Finding
from outreach.headlines import HeadlineChoice
from outreach.ledger import Ledger
from outreach.locks import Notice, hold
from outreach.mail import build_message, mailbox
from outreach.mail_transport import RelayHooks, mail_transport
from outreach.press.journalists import Journalist, load_journalists, match_journalists
from outreach.press.release import PressRelease
from outreach.press.windows import Slot, WindowRules
from outreach.press.zones import embargo_line_in
from outreach.secrets_store import link_secret, recipient_key
from outreach.subscriber_mail import web_base
from outreach.subscribers import normalise_email
from outreach.suppression import suppressions_for
from outreach.tokens import make_token

PITCH_CHANNEL = "press-pitch"
NOTICE_CHANNEL = "press-notice"
"""Ledger records of what each pitched journalist was told since: the embargo time their
pitch (or the last notice) carried (``embargo:<email>``), the corrections sent to them."""
NO_EMBARGO = "none"


@dataclass(frozen=True)
class Pitch:
    journalist: Journalist
    message: EmailMessage
    text: str
    item: str = ""
    """The ledger item recording this message once sent (default ``pitch:<email>``)."""

    @property
    def ledger_item(self) -> str:
        return self.item or f"pitch:{self.journalist.email}"

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class PitchPlan:
    finding_id: str
    pitches: list[Pitch] = field(default_factory=list)
    already_pitched: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ledger_channel: str = PITCH_CHANNEL
    """Where sent messages are recorded: pitches, or the notices that follow them."""
    embargo: str | None = None
    """The embargo time (ISO, or ``NO_EMBARGO``) the messages carry, recorded per journalist
    so a later change of the embargo is noticed; None: not recorded."""
    slots: dict[str, Slot] = field(default_factory=dict)
    """When each journalist's pitch goes (by address; outreach.press.timing); empty: now."""


def pitch_text(
    release: PressRelease,
    journalist: Journalist,
    kit_url: str,
    has_episode: bool,
    opt_out_url: str | None = None,
) -> str:
    greeting = journalist.name.split()[0] if journalist.name else "there"
    lines = [f"Dear {greeting},", ""]
    if release.embargoed_until:
        # In UTC and in the reader's own time (their zone, else the press office's).
        zone = journalist.timezone or release.contact.timezone
        line = embargo_line_in(release.embargoed_until, [zone] if zone else [], journalist.language)
        lines += [line, ""]
    contents = "release, images, fact sheet, quotes" + (", episode clip" if has_episode else "")
    lines += [
        release.headline,
        release.subhead,
        "",
        release.lead,
        "",
        f"As you cover this for {journalist.outlet}, the press kit ({contents}) is here:"
        if journalist.outlet
        else f"The press kit ({contents}) is here:",
        kit_url,
        "",
        "I can arrange interviews with the researchers.",
        "",
        release.contact.name,
        f"{release.contact.role}, {release.contact.organisation}",
        f"{release.contact.email} · {release.contact.phone}",
    ]
    if opt_out_url:
        lines += ["", f"Rather not receive our pitches? One click and we stop: {opt_out_url}"]
    return "\n".join(lines) + "\n"


def build_pitch(
    finding: Finding,
    release: PressRelease,
    journalist: Journalist,
    kit_url: str,
    max_words: int,
    when: datetime,
    opt_out_url: str | None = None,
) -> Pitch:
    """``opt_out_url``: the journalist's signed opt-out link, shown in the text and given as
    List-Unsubscribe (RFC 8058 one-click), so mail clients offer it too."""
    text = pitch_text(release, journalist, kit_url, finding.episode is not None, opt_out_url)
    words = len(text.split())
    if words > max_words:
        raise RenderError(
            f"{finding.source_path}: the pitch has {words} words, over {max_words}; shorten the "
            "headlines or set a shorter press.lead"
        )
    subject = release.subhead
    if release.embargoed_until:
        subject = f"EMBARGOED until {release.embargoed_until:%d %b %Y %H:%M %Z}: {subject}"
    contact = release.contact
    message = build_message(
        sender=mailbox(contact.name, contact.email),
        recipient=mailbox(journalist.name, journalist.email),
        subject=subject,
        text=text,
        key=f"{PITCH_CHANNEL}:{finding.id}:{journalist.email}",
        when=when,
        headers=opt_out_headers(opt_out_url) if opt_out_url else None,
    )
    return Pitch(journalist, message, text)


def opt_out_headers(url: str) -> dict[str, str]:
    """RFC 8058 one-click opt-out: a POST to the link stops pitches to this address."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def opt_out_url(settings: Settings, secret: bytes, email: str) -> str:
    """The journalist's signed link to the web app's opt-out page (it never expires: people
    opt out from old mail)."""
    token = quote(make_token(secret, "opt-out", normalise_email(email)))
    return f"{web_base(settings)}press/opt-out?token={token}"


def plan_pitches(
    finding: Finding,
    release: PressRelease,
    settings: Settings,
    kit_url: str,
    ledger: Ledger,
    max_words: int,
    now: datetime,
) -> PitchPlan:
    journalists = load_journalists(settings.paths.press / "journalists.csv")
    chosen, skipped = match_journalists(finding, journalists, now)
    sent = set(ledger.items(finding.id, PITCH_CHANNEL, settings.mail.platform))
    plan = PitchPlan(
        finding.id, skipped=[(j.email, why) for j, why in skipped], embargo=embargo_mark(finding)
    )
    suppressions = suppressions_for(settings)
    blocked = suppressions.suppressed(j.email for j in chosen)
    secret = link_secret(settings)
    for journalist in chosen:
        # An erased journalist's pitch is recorded under their recipient id, not the address.
        ids = {f"pitch:{journalist.email}", f"pitch:{suppressions.id_of(journalist.email)}"}
        if ids & sent:
            plan.already_pitched.append(journalist.email)
        elif journalist.email in blocked:
            reason = suppressions.reason(journalist.email) or "suppressed"
            plan.skipped.append((journalist.email, reason.replace("-", " ")))
        else:
            link = opt_out_url(settings, secret, journalist.email)
            plan.pitches.append(
                build_pitch(finding, release, journalist, kit_url, max_words, now, link)
            )
    return plan


@dataclass
class PitchOutcome:
    """What one pitching run did: who got their pitch, and who could not be reached."""

    sent: list[str] = field(default_factory=list)
    not_sent: list[tuple[str, str]] = field(default_factory=list)
    """(address, the server's reason): a refusal of that journalist's own address, an
    address this server cannot take, or a transient failure that outlasted the retries; the
    others are still pitched. Not recorded, so a later run (after the list is corrected)
    tries again."""


def send_pitches(
    plan: PitchPlan,
    settings: Settings,
    ledger: Ledger,
    now: datetime,
    relay: RelayHooks | None = None,
    notice: Notice | None = None,
    actor: str = "release",
) -> PitchOutcome:
    """Send every planned pitch over one connection; record each as soon as it is accepted.

    One run at a time per finding (another run waits; ``notice`` tells why), and a pitch the
    ledger shows as sent meanwhile (by another run) is skipped: nobody is pitched twice.
    A refusal of one journalist's address skips that journalist only; a refusal of the
    sender (login, connection, the server itself) raises SenderFailure and stops them all.
    Each journalist's outcome is a "send" event in the audit log (by recipient id), committed
    with the ledger's record of the pitch."""
    outcome = PitchOutcome()
    if not plan.pitches:
        return outcome
    people = recipient_key(settings)

    def event(pitch: Pitch, result: str, reply: str, via: str) -> AuditRow:
        detail = {"message_id": message_ref(pitch.message["Message-ID"]), "via": via}
        if result != "sent":
            detail["reply"] = without_addresses(reply)
        fields = {
            "publication": plan.finding_id,
            "actor": actor,
            "subject": recipient_id(pitch.journalist.email, people),
            "outcome": result,
            "detail": {"channel": plan.ledger_channel, **detail},
        }
        return "send", now, fields

    with hold(settings.paths.state, f"pitching {plan.finding_id}", notice):
        done = ledger.items(plan.finding_id, plan.ledger_channel, settings.mail.platform)
        todo = [p for p in plan.pitches if p.ledger_item not in done]
        if not todo:
            return outcome
        with mail_transport(settings, relay=relay) as transport:
            for pitch in todo:
                item = pitch.ledger_item
                key = (
                    f"{PITCH_CHANNEL}:{plan.finding_id}:{pitch.journalist.email}"
                    if plan.ledger_channel == PITCH_CHANNEL
                    else f"{plan.ledger_channel}:{plan.finding_id}:{item}"
                )
                sent = transport.send(pitch.message, pitch.journalist.email, key)
                if not sent.sent:
                    result = "bounced" if sent.status == "refused" else "deferred"
                    ledger.record_events([event(pitch, result, sent.detail, transport.name)])
                    outcome.not_sent.append((pitch.journalist.email, sent.detail))
                    continue
                with ledger.transaction():  # the record and its audit event commit together
                    ledger.record(
                        plan.finding_id,
                        plan.ledger_channel,
                        transport.name,
                        item,
                        pitch.message["Message-ID"],
                        None,
                        now,
                    )
                    if plan.embargo is not None:
                        ledger.record(
                            plan.finding_id, NOTICE_CHANNEL, transport.name,
                            f"embargo:{pitch.journalist.email}", plan.embargo, None, now,
                        )  # fmt: skip
                    ledger.record_events([event(pitch, "sent", sent.detail, transport.name)])
                outcome.sent.append(pitch.journalist.email)
    return outcome


def embargo_mark(finding: Finding) -> str:
    """The embargo time a message about ``finding`` carries, as recorded in the ledger."""
    return finding.embargo.isoformat() if finding.embargo else NO_EMBARGO


def pitch_plan_for(
    finding: Finding,
    settings: Settings,
    ledger: Ledger,
    now: datetime,
    business: str | None = None,
    consumer: str | None = None,
) -> tuple[PitchPlan, PressRelease, HeadlineChoice]:
    """Everything the approval step shows: the plan, the release and the headline candidates.

    ``business`` and ``consumer`` replace the chosen headlines (a runner-up picked on approval).
    """
    from outreach.press.assemble import load_press_data, release_for
    from outreach.press.kit import kit_base

    data = load_press_data(settings)
    release, choice = release_for(finding, settings, data)
    if business or consumer:
        release = replace(
            release, headline=business or release.headline, subhead=consumer or release.subhead
        )
    kit_url = settings.site.base_url + kit_base(finding, settings)
    plan = plan_pitches(
        finding, release, settings, kit_url, ledger, data.style.release.pitch_max_words, now
    )
    from outreach.press.timing import with_slots

    rules = WindowRules.from_style(data.style.pitch_window)
    plan = with_slots(plan, data.contact, rules, now, finding.embargo)
    return plan, release, choice


def pitched_notes(finding_id: str, plan: PitchPlan, outcome: PitchOutcome, via: str) -> list[str]:
    """What a release report says of one finding's pitches once sent: how many went out
    (and how many another run sent meanwhile), and each refused address with the fix."""
    meanwhile = len(plan.pitches) - len(outcome.sent) - len(outcome.not_sent)
    by_other = f" ({meanwhile} pitched meanwhile by another run)" if meanwhile else ""
    return [
        f"Pitched '{finding_id}' to {len(outcome.sent)} journalist(s) via {via}{by_other}.",
        *(
            f"Not pitched: {email} ({reason}); correct press/journalists.csv and release "
            f"'{finding_id}' again to retry."
            for email, reason in outcome.not_sent
        ),
    ]
