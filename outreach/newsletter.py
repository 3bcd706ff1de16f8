"""The newsletter email: MJML rendered once per issue, personalised per subscriber.

An issue (one finding, or a digest of several) is rendered from Jinja2 data through
mjml-python into responsive HTML once; the plain-text part is made from that HTML with
BeautifulSoup, links kept. Each subscriber's copy only fills in three slots the template
marks (their topics and their signed preferences and unsubscribe links), so sending thousands
of copies costs one join each, not thousands of renders.
"""

from __future__ import annotations

import binascii
import hashlib
import html as html_lib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag
from mjml import mjml2html

from outreach.config import Settings
from outreach.errors import RenderError
from outreach.finding import Finding
from outreach.mail import (
    dkim_sign,
    envelope_address,
    list_headers,
    mailbox,
    message_id,
    one_line,
)
from outreach.subscribers import Subscriber
from outreach.templating import environment
from outreach.tokens import make_token
from outreach.topics import TOPICS_BY_SLUG
from outreach.urls import SiteUrls

WIRE_POLICY = SMTP.clone(max_line_length=998)
"""Headers stay on one line up to RFC 5322's hard limit: folding would RFC 2047-encode the
List-Unsubscribe URLs, which mail clients then cannot read. Bodies keep 76-character lines."""
UTF8_WIRE_POLICY = WIRE_POLICY.clone(utf8=True)
MAX_HTML_BYTES = 102_000
"""Gmail clips HTML bodies over about 102 KB: the footer with the unsubscribe link would vanish."""
TOPICS, PREFERENCES_URL, UNSUBSCRIBE_URL = SLOTS = ("TOPICS", "PREFERENCES_URL", "UNSUBSCRIBE_URL")
"""The per-subscriber slots the template places with ``{{ slots.NAME }}``."""


@dataclass(frozen=True)
class Issue:
    key: str
    """Stable name of the issue: the finding id, or for a digest ``digest_key``."""
    subject: str
    preheader: str
    findings: tuple[Finding, ...]
    page: str | None = None
    """The site path the one item links to instead of the finding's post (a report's
    landing page, for a report's announcement)."""
    call: str = "Read the finding"
    """The button's words."""

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
    return Issue(digest_key(ordered, title), title, preheader, ordered)


DIGEST_PREFIX = "digest-"


def is_digest_key(key: str) -> bool:
    """Whether ``key`` names a digest (``digest_key``'s whole shape, so a finding whose id
    merely begins with "digest-" is still a finding)."""
    head, _, fingerprint = key.rpartition("-")
    return (
        key.startswith(DIGEST_PREFIX)
        and head.count("-") >= 2
        and len(fingerprint) == 12
        and all(c in "0123456789abcdef" for c in fingerprint)
    )


def digest_key(findings: Sequence[Finding], title: str) -> str:
    """``digest-<oldest>-<newest>-<hash>``: readable ends, and a hash over the title and every
    finding, so another selection or title is another issue, never a "resumed" old one."""
    ids = sorted(f.id for f in findings)
    fingerprint = hashlib.sha256("\n".join([title, *ids]).encode()).hexdigest()[:12]
    return f"{DIGEST_PREFIX}{findings[-1].id}-{findings[0].id}-{fingerprint}"


Pieces = tuple[str, ...]
"""A document cut at its slots: shared text at even positions, slot names at odd ones."""


@dataclass(frozen=True)
class RenderedIssue:
    """One issue rendered once, cut where the template placed the personal slots: content
    is never searched for placeholders, so a finding's text cannot pose as one."""

    issue: Issue
    html_pieces: Pieces
    text_pieces: Pieces

    @property
    def html(self) -> str:
        """For reading (slots shown as ``%%NAME%%``); copies are made from the pieces."""
        return fill(self.html_pieces, {name: f"%%{name}%%" for name in SLOTS})

    @property
    def text(self) -> str:
        return fill(self.text_pieces, {name: f"%%{name}%%" for name in SLOTS})


def cut_at_slots(document: str, marks: dict[str, str], where: Path, part: str) -> Pieces:
    """Cut ``document`` at the one-off marks the template printed for each slot.

    The marks carry a random nonce drawn after the content was fixed, so no finding can
    contain one; the unsubscribe link must be there (the law and RFC 8058 want it)."""
    by_mark = {mark: name for name, mark in marks.items()}
    pieces = re.split("(" + "|".join(re.escape(mark) for mark in by_mark) + ")", document)
    cut = tuple(by_mark[piece] if index % 2 else piece for index, piece in enumerate(pieces))
    if UNSUBSCRIBE_URL not in cut[1::2]:
        raise RenderError(
            f"{where}: the {part} has no unsubscribe link; place "
            "{{ slots.UNSUBSCRIBE_URL }} in a link's href (and {{ slots.PREFERENCES_URL }}, "
            "{{ slots.TOPICS }} where wanted)"
        )
    return cut


def html_to_text(document: str) -> str:
    """Readable plain text: blocks on their own lines, links as 'text (url)'."""
    soup = BeautifulSoup(document, "html.parser")
    for hidden in soup(["head", "style", "script", "title"]):
        hidden.decompose()
    # The hidden preheader (CSS ``div[style*='display:none']``, matched without compiling
    # a CSS selector: soupsieve's first compile took a tenth of a 10,000-message send).
    for preview in soup.find_all("div", style=lambda style: style and "display:none" in style):
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
    urls = SiteUrls(settings.site.base_url)
    items = []
    for finding in issue.findings:
        base = urls.url(issue.page) if issue.page else urls.post(finding.id)
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
                "episode_url": urls.episode(finding.id) if finding.episode else None,
                "call": issue.call,
            }
        )
    template = settings.paths.templates / "newsletter" / "email.mjml.j2"
    nonce = secrets.token_hex(16)
    marks = {name: f"%%{nonce}:{name}%%" for name in SLOTS}
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
            slots=marks,
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
    return RenderedIssue(
        issue,
        cut_at_slots(document, marks, template, "HTML part"),
        cut_at_slots(html_to_text(document), marks, template, "text part"),
    )


def unsubscribe_warning(settings: Settings) -> str | None:
    """Why the unsubscribe links are unsafe (not https), or None. Over SMTP such a send is
    refused: mailbox providers expect an https one-click link (RFC 8058)."""
    web = settings.newsletter.web_base_url or settings.site.base_url
    if web.startswith("https://"):
        return None
    setting = (
        "newsletter.web_base_url"
        if settings.newsletter.web_base_url
        else "newsletter.web_base_url (or site.base_url)"
    )
    return (
        f"the unsubscribe links start with {web}, not https://; mail providers expect an https "
        f"one-click unsubscribe link (RFC 8058): set {setting} to the https address where "
        "`outreach serve` answers"
    )


@dataclass(frozen=True)
class PersonalLinks:
    preferences: str
    unsubscribe: str
    one_click: str
    mailto: str


def personal_links(settings: Settings, secret: bytes, email: str) -> PersonalLinks:
    web = settings.newsletter.web_base_url or settings.site.base_url
    # Tokens are URL-safe base64 around a dot: percent-encoding would leave them as they are.
    token = make_token(secret, "unsubscribe", email)
    preferences = make_token(secret, "preferences", email)
    mailbox = settings.newsletter.unsubscribe_mailto
    return PersonalLinks(
        preferences=f"{web}newsletter/preferences?token={preferences}",
        unsubscribe=f"{web}newsletter/unsubscribe?token={token}",
        one_click=f"{web}newsletter/unsubscribe?token={token}",
        mailto=f"mailto:{mailbox}?subject=unsubscribe%20{token}",
    )


def personal_values(
    subscriber: Subscriber, links: PersonalLinks
) -> tuple[dict[str, str], dict[str, str]]:
    """What fills each placeholder, escaped for HTML and as plain text."""
    chosen = [TOPICS_BY_SLUG[t].name for t in subscriber.topics if t in TOPICS_BY_SLUG]
    topics_text = ", ".join(chosen)
    html = {
        TOPICS: html_lib.escape(topics_text).encode("ascii", "xmlcharrefreplace").decode(),
        PREFERENCES_URL: html_lib.escape(links.preferences),
        UNSUBSCRIBE_URL: html_lib.escape(links.unsubscribe),
    }
    text = {
        TOPICS: topics_text,
        PREFERENCES_URL: links.preferences,
        UNSUBSCRIBE_URL: links.unsubscribe,
    }
    return html, text


def fill(pieces: Sequence[str], values: dict[str, str]) -> str:
    """Join cut pieces, each slot (odd positions) replaced by its value."""
    return "".join(values[piece] if index % 2 else piece for index, piece in enumerate(pieces))


def _qp(data: bytes) -> bytes:
    """Quoted-printable with CRLF line ends (binascii: the C encoder)."""
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def qp_lines(pieces: Sequence[str]) -> list[bytes | list[str]]:
    """Cut pieces (slots at odd positions) into lines for quoted-printable encoding: the
    lines without a slot encoded once (bytes), each line with one as its own pieces, to be
    filled and encoded per copy. Quoted-printable carries nothing from one line to the next
    (line length and trailing-space rules restart at each line feed), so joining the lines'
    encodings gives the bytes of encoding the whole filled text, for a fifth of the work:
    most of a text part has no slot. Text with a carriage return is kept whole (its line
    ends are detected from its first line)."""
    if any("\r" in piece for piece in pieces):
        return [list(pieces)]
    lines: list[list[str]] = []
    current = [""]
    for index, piece in enumerate(pieces):
        if index % 2:
            current += [piece, ""]
            continue
        *ended, rest = piece.split("\n")
        for part in ended:
            current[-1] += part + "\n"
            lines.append(current)
            current = [""]
        current[-1] += rest
    if current != [""]:
        lines.append(current)
    cut: list[bytes | list[str]] = []
    for line in lines:
        if len(line) > 1:
            cut.append(line)
        elif cut and type(cut[-1]) is bytes:
            cut[-1] += _qp(line[0].encode("utf-8"))
        else:
            cut.append(_qp(line[0].encode("utf-8")))
    return cut


def personalise(
    rendered: RenderedIssue, subscriber: Subscriber, links: PersonalLinks
) -> tuple[str, str]:
    """(html, text) for one subscriber: only their topics and signed links differ."""
    html_values, text_values = personal_values(subscriber, links)
    return fill(rendered.html_pieces, html_values), fill(rendered.text_pieces, text_values)


_BLOCK_TAG = re.compile(
    r"(?=<(?:div|/div>|table|/table>|tbody|/tbody>|tr|/tr>|td|/td>|p\b|/p>|!--|!\[|style|meta|"
    r"link|head|/head>|body|title|o:|v:|xml))"
)
TEXT_QP = (
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
)
HTML_7BIT = (
    b'Content-Type: text/html; charset="us-ascii"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
)
HTML_QP = (
    b'Content-Type: text/html; charset="us-ascii"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
)
MAX_LINE = 998
"""RFC 5322's hard line limit; a 7bit part must respect it."""


_PLAIN_NAME = re.compile(r"[A-Za-z0-9 '-]{0,200}")
"""Display names ``formataddr`` leaves unquoted and the wire policy leaves as they are."""


def to_header(name: str, email: str) -> bytes:
    """The To line; an address with a non-ASCII local part is written as UTF-8 (RFC 6532:
    such a copy only travels over SMTPUTF8), an internationalised domain as punycode."""
    address, utf8 = envelope_address(email)
    name = one_line(name)
    if not utf8 and _PLAIN_NAME.fullmatch(name) and address.isascii():
        # The common case, written directly: the policy's header parser and folder would
        # give these exact bytes (tests compare) at a sixth of a plain message's cost.
        return f"To: {name} <{address}>\r\n".encode() if name else f"To: {address}\r\n".encode()
    if not utf8:
        return WIRE_POLICY.fold_binary("To", formataddr((name, address), charset="utf-8"))
    # formataddr quotes or encodes the name but refuses the address itself: give it a stand-in.
    shown = formataddr((name, "x@x"), charset="utf-8")
    return UTF8_WIRE_POLICY.fold_binary("To", shown[: -len("<x@x>")] + f"<{address}>")


class MessageFactory:
    """Builds each subscriber's copy of one issue as wire bytes, fast.

    Everything shared (headers, the HTML part) is prepared once; per subscriber only the To
    header, the Message-ID, the unsubscribe links and the topics line change. The HTML part is
    ASCII and travels as 7bit with its lines kept short (a break before block tags), so
    filling it in is string substitution; the small text part is quoted-printable encoded
    per copy. Building an ``EmailMessage`` per subscriber would cost several times more.
    """

    def __init__(
        self,
        rendered: RenderedIssue,
        settings: Settings,
        secret: bytes,
        when: datetime,
        private_key: bytes | None = None,
    ):
        config = settings.newsletter
        # Static pieces and slots alternate: a copy is one join, not a scan.
        self.html_pieces = [
            piece if index % 2 else _BLOCK_TAG.sub("\r\n", piece).replace("\r\n\r\n", "\r\n")
            for index, piece in enumerate(rendered.html_pieces)
        ]
        self.html_pieces[0] = self.html_pieces[0].lstrip()
        self.text_pieces = list(rendered.text_pieces)
        self.text_lines = qp_lines(self.text_pieces)
        self.rendered = rendered
        self.settings, self.secret, self.config = settings, secret, config
        self.private_key = private_key if config.dkim_domain and config.dkim_selector else None
        shared = "".join(self.html_pieces[0::2])
        longest = max(len(line) for line in shared.split("\r\n"))
        # Links and topics add at most ~300 characters to a line; beyond that, quoted-printable.
        self.html_7bit = longest + 300 <= MAX_LINE
        digest = hashlib.sha256(rendered.issue.key.encode()).hexdigest()[:24]
        self.boundary = f"=_outreach_{digest}"
        shell = EmailMessage(policy=WIRE_POLICY)
        shell["From"] = mailbox(config.from_name, config.from_email)
        shell["Subject"] = one_line(rendered.issue.subject)
        shell["Date"] = format_datetime(when)
        self.common = b"".join(
            WIRE_POLICY.fold_binary(name, value) for name, value in shell.items()
        )
        self.domain = config.from_email.rpartition("@")[2]
        # The shared parts as wire bytes, once: a copy joins them around its own values.
        self.html_bytes = [
            piece if index % 2 else piece.encode("ascii")
            for index, piece in enumerate(self.html_pieces)
        ]
        boundary = self.boundary.encode()
        self.text_head = b"".join([
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n',
            b"--" + boundary + b"\r\n",
            TEXT_QP,
        ])  # fmt: skip
        self.html_head = b"\r\n--" + boundary + b"\r\n" + (HTML_7BIT if self.html_7bit else HTML_QP)
        self.tail = b"\r\n--" + boundary + b"--\r\n"
        self._topic_lines: dict[tuple[str, ...], tuple[bytes, str]] = {}

    def message_id(self, email: str) -> str:
        """The Message-ID of this issue's copy to ``email`` (stable: a resend carries it)."""
        return message_id(f"newsletter:{self.rendered.issue.key}:{email}", self.domain)

    def _topics(self, topics: tuple[str, ...]) -> tuple[bytes, str]:
        """The topics line of a subscriber's copy (HTML bytes, text): a send has few
        distinct topic choices, so each is made once."""
        found = self._topic_lines.get(topics)
        if found is None:
            chosen = ", ".join(TOPICS_BY_SLUG[t].name for t in topics if t in TOPICS_BY_SLUG)
            html = html_lib.escape(chosen).encode("ascii", "xmlcharrefreplace")
            found = self._topic_lines[topics] = (html, chosen)
        return found

    def build(self, subscriber: Subscriber) -> bytes:
        """One subscriber's copy: the prebuilt pieces joined once around their links, topics,
        To and Message-ID (the same bytes ``personalise`` and an EmailMessage would give)."""
        email = subscriber.email
        links = personal_links(self.settings, self.secret, email)
        topics_html, topics_text = self._topics(subscriber.topics)
        html_values = {
            TOPICS: topics_html,
            PREFERENCES_URL: html_lib.escape(links.preferences).encode("ascii"),
            UNSUBSCRIBE_URL: html_lib.escape(links.unsubscribe).encode("ascii"),
        }
        text_values = {
            TOPICS: topics_text,
            PREFERENCES_URL: links.preferences,
            UNSUBSCRIBE_URL: links.unsubscribe,
        }
        html_body = b"".join(
            [
                html_values[piece] if index % 2 else piece
                for index, piece in enumerate(self.html_bytes)
            ]
        )
        if not self.html_7bit:
            html_body = _qp(html_body)
        text_body = b"".join(
            [
                line if type(line) is bytes else _qp(fill(line, text_values).encode("utf-8"))
                for line in self.text_lines
            ]
        )
        headers = list_headers(self.config.list_id, links.one_click, links.mailto)
        raw = b"".join([
            self.common,
            to_header(subscriber.name, email),
            b"Message-ID: " + self.message_id(email).encode() + b"\r\n",
            *[f"{name}: {value}\r\n".encode() for name, value in headers.items()],
            self.text_head, text_body, self.html_head, html_body, self.tail,
        ])  # fmt: skip
        if self.private_key:
            raw = dkim_sign(
                raw, self.config.dkim_domain, self.config.dkim_selector, self.private_key
            )
        return raw


def newsletter_message(
    rendered: RenderedIssue,
    subscriber: Subscriber,
    settings: Settings,
    secret: bytes,
    when: datetime,
    private_key: bytes | None = None,
) -> bytes:
    """One subscriber's copy (for a single message; sends reuse one MessageFactory)."""
    return MessageFactory(rendered, settings, secret, when, private_key).build(subscriber)
