"""The newsletter email: MJML rendered once per issue, personalised per subscriber.

An issue (one finding, or a digest of several) is rendered from Jinja2 data through
mjml-python into responsive HTML once; the plain-text part is made from that HTML with
BeautifulSoup, links kept. Each subscriber's copy only fills in three placeholders (their
topics and their signed preferences and unsubscribe links), so sending thousands of copies
costs string substitution, not thousands of renders.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.policy import SMTP
from urllib.parse import quote

from bs4 import BeautifulSoup, NavigableString, Tag
from mjml import mjml2html

from outreach.channels.base import RenderError
from outreach.config import Settings
from outreach.finding import Finding
from outreach.mail import build_message, dkim_sign, list_headers, mailbox
from outreach.subscribers import Subscriber
from outreach.templating import environment
from outreach.tokens import make_token
from outreach.topics import TOPICS_BY_SLUG

WIRE_POLICY = SMTP.clone(max_line_length=998)
"""Headers stay on one line up to RFC 5322's hard limit: folding would RFC 2047-encode the
List-Unsubscribe URLs, which mail clients then cannot read. Bodies keep 76-character lines."""
MAX_HTML_BYTES = 102_000
"""Gmail clips HTML bodies over about 102 KB: the footer with the unsubscribe link would vanish."""
TOPICS, PREFERENCES_URL, UNSUBSCRIBE_URL = (
    "%%TOPICS%%",
    "%%PREFERENCES_URL%%",
    "%%UNSUBSCRIBE_URL%%",
)


@dataclass(frozen=True)
class Issue:
    key: str
    """Stable name of the issue: the finding id, or ``digest-<first>-<last>``."""
    subject: str
    preheader: str
    findings: tuple[Finding, ...]

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(t for f in self.findings for t in f.topics)


def finding_issue(finding: Finding) -> Issue:
    return Issue(finding.id, finding.title, finding.summary, (finding,))


def digest_issue(findings: Sequence[Finding], title: str) -> Issue:
    ordered = tuple(sorted(findings, key=lambda f: (f.published, f.id), reverse=True))
    if not ordered:
        raise RenderError("a digest needs at least one finding")
    preheader = "; ".join(f.title for f in ordered)[:180]
    return Issue(f"digest-{ordered[-1].id}-{ordered[0].id}", title, preheader, ordered)


@dataclass(frozen=True)
class RenderedIssue:
    issue: Issue
    html: str
    text: str


def html_to_text(document: str) -> str:
    """Readable plain text: blocks on their own lines, links as 'text (url)'."""
    soup = BeautifulSoup(document, "html.parser")
    for hidden in soup(["head", "style", "script", "title"]):
        hidden.decompose()
    for preview in soup.select("div[style*='display:none']"):
        preview.decompose()
    for link in soup.find_all("a"):
        label, href = link.get_text(" ", strip=True), link.get("href", "")
        image = link.find("img")
        if not label and image is not None:
            label = image.get("alt", "").strip()
        if not label:
            link.decompose()
            continue
        link.replace_with(f"{label} ({href})" if href and href != label else label)
    for br in soup.find_all("br"):
        br.replace_with("\n")
    blocks: list[str] = []
    for element in soup.find_all(["p", "div", "td", "h1", "h2", "h3", "li"]):
        if isinstance(element, Tag) and not element.find(
            ["p", "div", "td", "h1", "h2", "h3", "li"]
        ):
            text = "".join(
                t if isinstance(t, NavigableString) else t.get_text() for t in element.contents
            )
            lines = [" ".join(line.split()) for line in text.split("\n")]
            block = "\n".join(line for line in lines if line)
            if block and (not blocks or blocks[-1] != block):
                blocks.append(block)
    return "\n\n".join(blocks) + "\n"


def render_issue(issue: Issue, settings: Settings) -> RenderedIssue:
    site = settings.site
    items = []
    for finding in issue.findings:
        base = site.base_url + f"blog/{finding.id}/"
        items.append(
            {
                "url": base,
                "title": finding.title,
                "summary": finding.summary,
                "image_url": base + "share.png",
                "image_alt": f"{finding.key_stat.value} {finding.key_stat.label}",
                "stat_value": finding.key_stat.value,
                "stat_label": finding.key_stat.label,
                "illustrative": finding.key_stat.illustrative,
                "episode_url": site.base_url + f"podcast/episodes/{finding.id}.mp3"
                if finding.episode
                else None,
            }
        )
    mjml = (
        environment(settings.paths.templates)
        .get_template("newsletter/email.mjml.j2")
        .render(
            language=site.language,
            subject=issue.subject,
            preheader=issue.preheader,
            items=items,
            site_title=site.title,
            organisation=site.organisation,
            postal_address=settings.newsletter.postal_address,
        )
    )
    document = mjml2html(mjml)
    # ASCII only (other characters as references), so the part travels as 7bit and
    # personalising it is plain string substitution.
    document = document.encode("ascii", "xmlcharrefreplace").decode("ascii")
    size = len(document.encode())
    if size > MAX_HTML_BYTES:
        raise RenderError(
            f"newsletter '{issue.key}' is {size} bytes of HTML, over {MAX_HTML_BYTES}: mail "
            "clients would clip it and hide the unsubscribe link; send fewer findings at once"
        )
    return RenderedIssue(issue, document, html_to_text(document))


@dataclass(frozen=True)
class PersonalLinks:
    preferences: str
    unsubscribe: str
    one_click: str
    mailto: str


def personal_links(settings: Settings, secret: bytes, email: str) -> PersonalLinks:
    web = settings.newsletter.web_base_url or settings.site.base_url
    token = quote(make_token(secret, "unsubscribe", email))
    preferences = quote(make_token(secret, "preferences", email))
    mailbox = settings.newsletter.unsubscribe_mailto
    return PersonalLinks(
        preferences=f"{web}newsletter/preferences?token={preferences}",
        unsubscribe=f"{web}newsletter/unsubscribe?token={token}",
        one_click=f"{web}newsletter/unsubscribe?token={token}",
        mailto=f"mailto:{mailbox}?subject=unsubscribe%20{token}",
    )


def personalise(
    rendered: RenderedIssue, subscriber: Subscriber, links: PersonalLinks
) -> tuple[str, str]:
    """(html, text) for one subscriber: only their topics and signed links differ."""
    chosen = [TOPICS_BY_SLUG[t].name for t in subscriber.topics if t in TOPICS_BY_SLUG]
    topics_text = ", ".join(chosen)
    topics_html = html_lib.escape(topics_text).encode("ascii", "xmlcharrefreplace").decode()
    html = (
        rendered.html.replace(TOPICS, topics_html)
        .replace(PREFERENCES_URL, html_lib.escape(links.preferences))
        .replace(UNSUBSCRIBE_URL, html_lib.escape(links.unsubscribe))
    )
    text = (
        rendered.text.replace(TOPICS, topics_text)
        .replace(PREFERENCES_URL, links.preferences)
        .replace(UNSUBSCRIBE_URL, links.unsubscribe)
    )
    return html, text


def dkim_key(settings: Settings) -> bytes | None:
    """The DKIM private key from OUTREACH_DKIM_PRIVATE_KEY or newsletter.dkim_key_file."""
    import os

    if os.environ.get("OUTREACH_DKIM_PRIVATE_KEY"):
        return os.environ["OUTREACH_DKIM_PRIVATE_KEY"].encode()
    path = settings.newsletter.dkim_key_file
    return path.read_bytes() if path else None


def newsletter_message(
    rendered: RenderedIssue,
    subscriber: Subscriber,
    settings: Settings,
    secret: bytes,
    when: datetime,
    private_key: bytes | None = None,
) -> bytes:
    """The wire bytes of one subscriber's copy: text then HTML, list headers, DKIM if keyed."""
    config = settings.newsletter
    links = personal_links(settings, secret, subscriber.email)
    html, text = personalise(rendered, subscriber, links)
    message = build_message(
        sender=mailbox(config.from_name, config.from_email),
        recipient=mailbox(subscriber.name, subscriber.email),
        subject=rendered.issue.subject,
        text=text,
        html=html,
        key=f"newsletter:{rendered.issue.key}:{subscriber.email}",
        when=when,
        headers=list_headers(config.list_id, links.one_click, links.mailto),
    )
    raw = message.as_bytes(policy=WIRE_POLICY)
    if private_key and config.dkim_domain and config.dkim_selector:
        raw = dkim_sign(raw, config.dkim_domain, config.dkim_selector, private_key)
    return raw
