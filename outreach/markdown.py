"""Markdown to safe HTML: CommonMark with tables via markdown-it-pyrs (markdown-it's rules in
Rust, the same HTML as markdown-it-py's for every body the tests render, about ten times
faster: Markdown was over half of a full build's rendering), then sanitised with nh3.

Raw HTML in a finding is escaped by the parser (its HTML rules are not enabled) and anything
that slips through is removed by nh3, so a finding can never inject script or markup into the
site, feed or email.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it_pyrs import MarkdownIt

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


COMMONMARK_WITHOUT_HTML = [
    "blockquote", "code", "fence", "heading", "hr", "lheading", "list", "paragraph",
    "reference", "autolink", "backticks", "emphasis", "entity", "escape", "image", "link",
    "newline", "table",
]  # fmt: skip
"""The "commonmark" preset's rules less ``html_block`` and ``html_inline``, plus tables."""


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("zero").enable_many(COMMONMARK_WITHOUT_HTML)


@lru_cache(maxsize=16)
def render_markdown(text: str) -> str:
    """Render a post body. A body h1 becomes h2: the page's only h1 is the title.

    Remembered for the last few bodies: a finding's page, feed entry and email render the
    same one. Few: a release renders its findings in batches, and each remembered body and
    its HTML (about 10 KB) would stay in memory to the end."""
    # With raw HTML escaped, "<h1>" can only be a heading's own tag.
    html = _parser().render(text).replace("<h1>", "<h2>").replace("</h1>", "</h2>")
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
