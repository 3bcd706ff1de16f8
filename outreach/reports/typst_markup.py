"""Markdown to Typst markup, over the same CommonMark parser the site uses (markdown-it-py).

Why our own converter: pandoc's Typst writer drops image alt text, and the PDF edition is built
in Typst's PDF/UA-1 mode, which refuses any figure without it. Converting from the parser's
syntax tree also keeps every character of the text literal: Typst's markup characters
(``# $ * _ ` < > @ [ ] \\ ~ = - + / :`` and the rest) are escaped, emphasis, links and code go
through function calls rather than delimiters, and raw HTML (disabled in the parser) arrives as
plain text. Nothing in a finding can run Typst code or change the document around it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

_ESCAPED = re.compile(r"([\\#$*_`<>@\[\]~=\-+/:.{}()|^&;!?%])")
"""ASCII characters that mean something somewhere in Typst markup (at a line start, doubled,
after a function call, followed by a letter or a digit). A backslash before any of them gives
the character itself. Quotes stay: Typst makes them typographic, which is all they do."""
_LINK_SCHEMES = ("http://", "https://", "mailto:")
"""The schemes the site's sanitiser keeps (outreach.markdown): anything else stays text."""


@dataclass(frozen=True)
class ImageRef:
    """A Markdown image as the PDF needs it: where it points and what it says."""

    src: str
    alt: str
    title: str


ImageResolver = Callable[[ImageRef], str]
"""Gives the path Typst reads an image from (inside the compile root) for a Markdown image."""


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def escape_text(text: str) -> str:
    """Text that Typst markup shows exactly as written (line breaks become spaces)."""
    return _ESCAPED.sub(r"\\\1", " ".join(text.splitlines()))


def string_literal(text: str) -> str:
    """A Typst string literal (code mode): only backslash and double quote need escaping."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def markdown_to_typst(
    text: str, *, under_level: int = 0, resolve_image: ImageResolver | None = None
) -> str:
    """Typst markup for a Markdown body that sits under a heading of ``under_level``.

    A Markdown ``##`` becomes level ``under_level + 1`` (a body ``#`` counts as ``##``, as on
    the site) and deeper headings follow, except that no level is skipped: PDF/UA-1 refuses
    a document whose headings jump (a ``####`` right after a ``##`` becomes one level deeper).
    Images go through ``resolve_image``; without one their alt text stands in as text."""
    tree = SyntaxTreeNode(_parser().parse(text))
    return _Converter(under_level, resolve_image).blocks(tree.children).strip() + "\n"


class _Converter:
    def __init__(self, under_level: int, resolve_image: ImageResolver | None) -> None:
        self.under_level = under_level
        self.last_level = under_level
        self.resolve_image = resolve_image

    # -- blocks -------------------------------------------------------------------------

    def blocks(self, nodes: list[SyntaxTreeNode]) -> str:
        return "\n\n".join(part for part in (self.block(node) for node in nodes) if part)

    def block(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "paragraph":
            return self.paragraph(node)
        if kind == "heading":
            wanted = max(int(node.tag[1]), 2) - 1 + self.under_level
            self.last_level = max(min(wanted, self.last_level + 1), 1)
            return f"#heading(level: {self.last_level})[{self.inline(node.children)}]"
        if kind in ("bullet_list", "ordered_list"):
            return self.list(node)
        if kind == "blockquote":
            return f"#quote(block: true)[\n{self.blocks(node.children)}\n]"
        if kind in ("fence", "code_block"):
            words = (node.info or "").split() if kind == "fence" else []
            lang = words[0] if words else ""
            lang_arg = f"lang: {string_literal(lang)}, " if re.fullmatch(r"[\w+-]+", lang) else ""
            return f"#raw(block: true, {lang_arg}{string_literal(node.content.rstrip(chr(10)))})"
        if kind == "hr":
            return "#line(length: 100%, stroke: 0.5pt + gray)"
        if kind == "table":
            return self.table(node)
        if kind == "html_block":  # not produced with html off; kept literal all the same
            return escape_text(node.content)
        return self.blocks(node.children)

    def paragraph(self, node: SyntaxTreeNode) -> str:
        inline = node.children[0] if node.children else None
        children = inline.children if inline is not None else []
        images = [child for child in children if child.type == "image"]
        rest = [
            child
            for child in children
            if child.type != "image"
            and not (child.type == "text" and not child.content.strip())
            and child.type not in ("softbreak", "hardbreak")
        ]
        if images and not rest:  # a paragraph of images only: numbered, captioned figures
            return "\n\n".join(self.figure(image) for image in images)
        return self.inline(children)

    def figure(self, node: SyntaxTreeNode) -> str:
        ref = _image_ref(node)
        if self.resolve_image is None:
            return escape_text(ref.alt)
        path = self.resolve_image(ref)
        alt = f"alt: {string_literal(ref.alt)}" if ref.alt.strip() else "alt: none"
        caption = escape_text(ref.title or ref.alt)
        return f"#figure(image({string_literal(path)}, {alt}), caption: [{caption}])"

    def list(self, node: SyntaxTreeNode) -> str:
        items = []
        for item in node.children:
            body = self.blocks(item.children)
            items.append(f"[{body}]")
        joined = ",\n  ".join(items)
        if node.type == "ordered_list":
            start = int(node.attrs.get("start", 1) or 1)
            return f"#enum(start: {start},\n  {joined},\n)"
        return f"#list(\n  {joined},\n)"

    def table(self, node: SyntaxTreeNode) -> str:
        header: list[str] = []
        rows: list[list[str]] = []
        aligns: list[str] = []
        for section in node.children:
            for row in section.children:
                cells = [self.inline(cell.children) for cell in row.children]
                if section.type == "thead":
                    header = cells
                    aligns = [_alignment(str(cell.attrs.get("style", ""))) for cell in row.children]
                else:
                    rows.append(cells)
        columns = max([len(header), *(len(row) for row in rows)])
        aligns = (aligns + ["left"] * columns)[:columns]
        parts = [f"columns: {columns}", f"align: ({', '.join(aligns)},)"]
        if header:
            parts.append("table.header(" + ", ".join(f"[*{cell}*]" for cell in header) + ")")
        for row in rows:
            padded = row + [""] * (columns - len(row))
            parts.append(", ".join(f"[{cell}]" for cell in padded))
        return "#table(\n  " + ",\n  ".join(parts) + ",\n)"

    # -- inline -------------------------------------------------------------------------

    def inline(self, nodes: list[SyntaxTreeNode]) -> str:
        out: list[str] = []
        for node in nodes:
            kind = node.type
            if kind == "inline":
                out.append(self.inline(node.children))
            elif kind == "text":
                out.append(escape_text(node.content))
            elif kind == "softbreak":
                out.append(" ")
            elif kind == "hardbreak":
                out.append("#linebreak()")
            elif kind == "em":
                out.append(f"#emph[{self.inline(node.children)}]")
            elif kind == "strong":
                out.append(f"#strong[{self.inline(node.children)}]")
            elif kind == "code_inline":
                out.append(f"#raw({string_literal(node.content)})")
            elif kind == "link":
                out.append(self.link(node))
            elif kind == "image":
                out.append(self.inline_image(node))
            else:  # html_inline and anything new: its text, literally
                out.append(escape_text(node.content))
        return "".join(out)

    def link(self, node: SyntaxTreeNode) -> str:
        label = self.inline(node.children)
        href = str(node.attrs.get("href", ""))
        if not href.lower().startswith(_LINK_SCHEMES):
            return label
        return f"#link({string_literal(href)})[{label}]"

    def inline_image(self, node: SyntaxTreeNode) -> str:
        ref = _image_ref(node)
        if self.resolve_image is None:
            return escape_text(ref.alt)
        path = self.resolve_image(ref)
        alt = f"alt: {string_literal(ref.alt)}" if ref.alt.strip() else "alt: none"
        return f"#box(image({string_literal(path)}, height: 1.2em, {alt}))"


def _image_ref(node: SyntaxTreeNode) -> ImageRef:
    return ImageRef(
        src=str(node.attrs.get("src", "")),
        alt=_plain(node.children).strip(),
        title=str(node.attrs.get("title", "") or ""),
    )


def _plain(nodes: list[SyntaxTreeNode]) -> str:
    """The text of inline nodes without their markup (an image's alt text, as HTML has it)."""
    parts: list[str] = []
    for node in nodes:
        if node.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif node.children:
            parts.append(_plain(node.children))
        else:
            parts.append(node.content)
    return "".join(parts)


def _alignment(style: str) -> str:
    for side in ("left", "center", "right"):
        if f"text-align:{side}" in style.replace(" ", ""):
            return side
    return "left"
