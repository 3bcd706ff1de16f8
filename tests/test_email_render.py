"""The newsletter in a real browser: headless Chromium at phone and desktop widths.

Nothing may overflow horizontally (a page wider than the screen is the classic broken
newsletter on a phone).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from email import message_from_bytes, policy
from html import escape
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import NOW
from outreach.config import Settings
from outreach.newsletter import (
    digest_issue,
    finding_issue,
    newsletter_message,
    personal_links,
    personalise,
    render_issue,
)
from outreach.release import load_catalog
from outreach.subscribers import Subscriber

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SPAMASSASSIN = shutil.which("spamassassin")
HOST = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="email" style="border:0;width:{width}px;height:2000px" srcdoc="{srcdoc}"></iframe>
<script>
document.getElementById('email').addEventListener('load', function () {{
  var inner = this.contentDocument.documentElement;
  document.body.setAttribute('data-widths', inner.scrollWidth + ' ' + this.contentWindow.innerWidth);
}});
</script></body></html>"""
"""The email in an iframe of the phone's width: headless Chromium's window has a 500 px minimum."""


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed: `make test` installs Debian's chromium"
)
@pytest.mark.parametrize("width", [375, 600])
def test_newsletter_does_not_overflow(settings: Settings, tmp_path: Path, width: int) -> None:
    rendered = render_issue(
        digest_issue(list(load_catalog(settings).values()), "This month"), settings
    )
    subscriber = Subscriber(
        "reader@example.com",
        "Reader",
        ("food-agriculture", "apparel-textiles"),
        "confirmed",
        "",
        "",
    )
    html, _ = personalise(
        rendered, subscriber, personal_links(settings, b"secret", subscriber.email)
    )
    page = tmp_path / "email.html"
    page.write_text(HOST.format(width=width, srcdoc=escape(html, quote=True)), encoding="utf-8")
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=800,900",
            "--virtual-time-budget=2000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r'data-widths="(\d+) (\d+)"', result.stdout)
    assert match, result.stderr[-2000:]
    scroll_width, viewport = map(int, match.groups())
    assert viewport == width
    assert scroll_width <= viewport, f"content is {scroll_width} px wide in a {viewport} px window"


READER = Subscriber("reader@example.com", "Reader", ("food-agriculture",), "confirmed", "", "")


def newsletter_bytes(settings: Settings) -> bytes:
    rendered = render_issue(finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings)
    return newsletter_message(rendered, READER, settings, b"secret", NOW)


def test_preheader_is_hidden_by_layout_not_by_colour(settings: Settings) -> None:
    message = message_from_bytes(newsletter_bytes(settings), policy=policy.default)
    soup = BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser")
    hidden = [div for div in soup.find_all("div") if "display:none" in div.get("style", "")]
    assert len(hidden) == 1
    style = dict(
        part.split(":", 1) for part in hidden[0]["style"].replace(" ", "").split(";") if part
    )
    assert (style["display"], style["max-height"], style["overflow"]) == ("none", "0", "hidden")
    assert not {"color", "opacity", "font-size", "background", "background-color"} & set(style)
    assert (
        hidden[0].get_text().strip()
        == "A fixture finding whose text tries to inject markup into every output."
    )


@pytest.mark.skipif(SPAMASSASSIN is None, reason="`make test-tools` installs Debian's spamassassin")
def test_newsletter_scores_no_hidden_text_in_spamassassin(
    settings: Settings, tmp_path: Path
) -> None:
    result = subprocess.run(
        [SPAMASSASSIN, "-L", "-t"],  # local rules only: no network
        input=newsletter_bytes(settings),
        capture_output=True,
        timeout=120,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    report = result.stdout.decode(errors="replace")
    assert "Content analysis details" in report, result.stderr.decode(errors="replace")[-2000:]
    assert "HTML_FONT_LOW_CONTRAST" not in report
