"""Post bodies are rendered by markdown-it-pyrs (markdown-it's rules in Rust) for speed; its
HTML must stay markdown-it-py's, the CommonMark reference the site was built on, so that a
version change of either shows up here rather than as a changed page."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from markdown_it import MarkdownIt

from conftest import REPO
from outreach.markdown import _parser, render_markdown

TRICKY = """\
# A title written as h1

Raw HTML stays text: <script>alert("x")</script>, <abbr title="t">abbr</abbr> &amp; &copy;.

<div onclick="x()">a block of raw HTML</div>

A [bad link](javascript:alert(1)), a <https://example.org/auto?a=1&b=2> and a
[good one](https://example.org/report?a=1&b=2 "Title"); ![an image](x.png)

| Commodity | Share | Note |
|:----------|------:|:----:|
| Cocoa     | 12%   | *up* |
| Cotton \\| wool | 3% | `code` |

1. One
   - nested *emphasis* and **strong**
   - `inline code`
2. Two

> A quote
> > nested

```python
print("<not html>")
```

    indented code

Setext heading
--------------

A trailing backslash\\
breaks the line. Entities: &#35; &#x41; &nbsp; and `` code with ` tick ``.

***
"""


def bodies() -> list[tuple[str, str]]:
    """The tricky body, and every sample finding's, report's and event's body."""
    found = [("tricky", TRICKY)]
    for folder in ("findings", "reports", "events"):
        assert list((REPO / folder).glob("*.md")), folder
        for path in sorted((REPO / folder).glob("*.md")):
            if path.name == "README.md":
                continue
            text = path.read_text(encoding="utf-8")
            found.append((f"{folder}/{path.name}", text.split("\n---\n", 1)[-1]))
    return found


@pytest.mark.parametrize(("name", "body"), bodies(), ids=[name for name, _ in bodies()])
def test_post_bodies_render_as_the_commonmark_reference_renders_them(name: str, body: str) -> None:
    reference = MarkdownIt("commonmark", {"html": False}).enable("table")
    assert _parser().render(body) == reference.render(body), name


def test_a_body_h1_becomes_h2_and_raw_html_stays_escaped() -> None:
    html = render_markdown(TRICKY)
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.find("h1") and soup.find("h2").get_text() == "A title written as h1"
    assert 'Raw HTML stays text: <script>alert("x")</script>' in soup.get_text()
    assert not soup.find(["script", "div", "abbr", "img"])
    for tag in soup.find_all(True):
        assert not [name for name in tag.attrs if name.startswith("on")], tag
    assert [a["href"] for a in soup.find_all("a")] == [
        "https://example.org/auto?a=1&b=2",
        "https://example.org/report?a=1&b=2",
    ]
    assert '<td style="text-align:right">12%</td>' in html
