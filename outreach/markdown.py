"""Markdown to safe HTML: CommonMark via markdown-it-py, then sanitised with nh3.

Raw HTML in a finding is escaped by the parser and anything that slips through is removed by
nh3, so a finding can never inject script or markup into the site, feed or email.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a",
    "abbr",
    "blockquote",
    "br",
    "code",
    "em",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


@lru_cache(maxsize=16)
def render_markdown(text: str) -> str:
    """Render a post body. A body h1 becomes h2: the page's only h1 is the title.

    Remembered for the last few bodies: a finding's page, feed entry and email render the
    same one. Few: a release renders its findings in batches, and each remembered body and
    its HTML (about 10 KB) would stay in memory to the end."""
    parser = _parser()
    tokens = parser.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            level = max(int(token.tag[1]), 2)
            token.tag = f"h{level}"
    html = parser.renderer.render(tokens, parser.options, {})
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        filter_style_properties={"text-align"},
    )


def scrollable_tables(html: str) -> str:
    """Wrap each table of sanitised HTML in a focusable, named region that scrolls sideways.

    A wide table must scroll on a phone, and keyboard users can only scroll a region they can
    focus (axe: scrollable-region-focusable), so the wrapper has ``tabindex="0"``, a role and
    a name. Applied after nh3, whose output spells every table tag exactly ``<table>``."""
    parts = html.split("<table>")
    wrapped = [parts[0]]
    for number, part in enumerate(parts[1:], start=1):
        wrapped.append(
            f'<div class="table-scroll" role="region" tabindex="0" aria-label="Table {number}">'
            f"<table>{part.replace('</table>', '</table></div>', 1)}"
        )
    return "".join(wrapped)
