"""The reports' PDF edition, checked with Debian's poppler tools and pikepdf, never by itself.

pdfinfo (title, tags), pdffonts (embedding), pdftotext (what a reader or a screen reader gets
as text), pdftoppm (what the page looks like, against a reviewed golden image) and pikepdf (the
structure tree assistive technology reads).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import typst
from PIL import Image, ImageChops, ImageStat

from outreach.config import Settings, load_settings
from outreach.errors import OutreachError
from outreach.finding import Finding
from outreach.release_steps import load_catalog
from outreach.reports.edition import prepare_edition
from outreach.reports.model import Report, read_reports, resolve_findings
from outreach.reports.pdf import ChartImage, IndicatorRow, ReportPdfError, build_pdf
from outreach.reports.typst_markup import escape_text, markdown_to_typst

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "reports"
POPPLER = ("pdfinfo", "pdffonts", "pdftotext", "pdftoppm")

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in POPPLER),
    reason="poppler-utils missing: make test-tools installs it",
)

CHART_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200" viewBox="0 0 400 200">'
    b'<rect x="40" y="80" width="120" height="120" fill="#8fb3a0"/>'
    b'<rect x="220" y="40" width="120" height="160" fill="#2f6b4f"/></svg>'
)
CHART_ALT = (
    "Bar chart: the share of premium reaching households rose from 31% in 2025 to 38% in 2026."
)
INDICATORS = [
    IndicatorRow(
        "Share of certification premium reaching member households", "38%", "31%", "▲ 7 pp"
    ),
    IndicatorRow(
        "Lot value lost between farm gate and export warehouse", "12%", "first year", "first year"
    ),
]


@pytest.fixture(scope="module")
def settings() -> Settings:
    """The repository's own configuration and sample files: building a PDF only reads them."""
    return load_settings(REPO / "outreach.toml", environ={})


@pytest.fixture(scope="module")
def catalog(settings: Settings) -> dict[str, Finding]:
    return load_catalog(settings)


@pytest.fixture(scope="module")
def state_of_play(settings: Settings) -> Report:
    return read_reports(settings)["state-of-play-2026"]


def build(report: Report, catalog: dict[str, Finding], settings: Settings, **extra: Any) -> bytes:
    return build_pdf(report, resolve_findings(report, catalog), settings, **extra)


@pytest.fixture(scope="module")
def sample_pdf(
    tmp_path_factory: pytest.TempPathFactory,
    state_of_play: Report,
    catalog: dict[str, Finding],
    settings: Settings,
) -> Path:
    pdf = build(
        state_of_play,
        catalog,
        settings,
        indicators=INDICATORS,
        charts=[ChartImage(CHART_SVG, CHART_ALT, "Premium reaching households, 2025 and 2026")],
        web_url="https://example.org/reports/state-of-play-2026/",
    )
    path = tmp_path_factory.mktemp("pdf") / "state-of-play-2026.pdf"
    path.write_bytes(pdf)
    return path


def changed(report: Report, settings: Settings, **changes: Any) -> Report:
    """The report with some fields changed, validated again (as if the file said so)."""
    data = report.model_dump() | changes
    return Report.model_validate(data, context={"media_dir": settings.paths.media})


def run(*command: str | Path) -> str:
    return subprocess.run(
        [str(part) for part in command], check=True, capture_output=True, text=True
    ).stdout


def pdf_text(path: Path, first: int | None = None, last: int | None = None) -> str:
    """pdftotext's reading, whitespace collapsed and quotes made plain for comparisons."""
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    text = run("pdftotext", *pages, path, "-")
    text = text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'}))
    return re.sub(r"\s+", " ", text)


def pdf_info(path: Path) -> dict[str, str]:
    lines = run("pdfinfo", path).splitlines()
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}


def figures_alt(path: Path) -> list[str | None]:
    """The Alt entry of every Figure element in the structure tree, in document order."""
    found: list[str | None] = []

    def walk(node: Any) -> None:
        if isinstance(node, pikepdf.Array):
            for kid in node:
                walk(kid)
        elif isinstance(node, pikepdf.Dictionary):
            if str(node.get("/S", "")) == "/Figure":
                alt = node.get("/Alt")
                found.append(None if alt is None else str(alt))
            if "/K" in node:
                walk(node.K)

    with pikepdf.open(path) as pdf:
        assert "/StructTreeRoot" in pdf.Root, "no structure tree: the PDF is not tagged"
        walk(pdf.Root.StructTreeRoot)
    return found


# -- what readers and assistive technology get ---------------------------------------------


def test_the_pdf_is_tagged_titled_a4_and_in_the_sites_language(
    sample_pdf: Path, state_of_play: Report
) -> None:
    info = pdf_info(sample_pdf)
    assert info["Title"] == state_of_play.title
    assert info["Tagged"] == "yes"
    assert "(A4)" in info["Page size"]
    with pikepdf.open(sample_pdf) as pdf:
        # The creation date is the report's `published`, never the build's clock.
        assert str(pdf.docinfo.CreationDate) == "D:20261201090000Z"
        assert pdf.open_metadata()["xmp:CreateDate"] == "2026-12-01T09:00:00+00:00"
        assert str(pdf.Root.Lang) == "en-GB"
        assert pdf.Root.MarkInfo.Marked is True
        # Shown as the window title instead of the file name (PDF/UA).
        assert pdf.Root.ViewerPreferences.DisplayDocTitle is True


def test_every_font_in_the_pdf_is_embedded(sample_pdf: Path) -> None:
    rows = run("pdffonts", sample_pdf).splitlines()[2:]
    assert rows, "pdffonts lists no font"
    for row in rows:
        # name type encoding emb sub uni object-id: 'emb' is the fourth column from the end.
        assert row.split()[-5] == "yes", f"font not embedded: {row}"
    assert any("LibertinusSerif" in row for row in rows)


def test_every_included_finding_title_appears_in_the_reports_order(
    sample_pdf: Path, state_of_play: Report, catalog: dict[str, Finding]
) -> None:
    text = pdf_text(sample_pdf)
    findings = resolve_findings(state_of_play, catalog)
    start = text.index(f"The {len(findings)} findings this report gathers")
    positions = [text.find(finding.title, start) for finding in findings]
    assert -1 not in positions, [
        f.title for f, p in zip(findings, positions, strict=True) if p == -1
    ]
    assert positions == sorted(positions)
    # Each with its key figures and quotes.
    for finding in findings:
        assert finding.stats[0].label in text
        for quote in finding.quotes:
            assert quote.speaker in text


def test_the_cover_back_carries_the_recommended_citation(
    sample_pdf: Path, state_of_play: Report
) -> None:
    back = pdf_text(sample_pdf, 2, 2)
    assert "Recommended citation" in back
    assert (
        f"Programme research team (2026). {state_of_play.title}: {state_of_play.subtitle}. "
        "Durable Supply Chains Programme. https://example.org/reports/state-of-play-2026/"
    ) in back


def test_contents_chapters_recommendations_sources_and_credits_are_there(
    sample_pdf: Path, state_of_play: Report
) -> None:
    text = pdf_text(sample_pdf)
    assert "Contents" in pdf_text(sample_pdf, 3, 3)
    for number, chapter in enumerate(state_of_play.chapters, start=1):
        assert f"{number} {chapter.title}" in text
    for recommendation in state_of_play.recommendations:
        assert recommendation.text in text
        assert "For: " + ", ".join(recommendation.audience) in text
    assert "Sources and image credits" in text
    assert state_of_play.cover.caption in text
    # Running heads on pages that start no chapter: the short title and the chapter.
    pages = int(pdf_info(sample_pdf)["Pages"])
    heads = [pdf_text(sample_pdf, page, page).strip() for page in range(4, pages + 1)]
    assert any(head.startswith("State of play 2026 Findings") for head in heads)
    # Page numbers in the footer, from the contents page on.
    assert all(f" {page} " in f" {head} " for page, head in enumerate(heads, start=4))


def test_the_indicator_table_and_charts_are_in_the_pdf(sample_pdf: Path) -> None:
    text = pdf_text(sample_pdf)
    assert "Indicator This year Last year Change" in text or all(
        word in text for word in ("This year", "Last year", "Change")
    )
    for row in INDICATORS:
        assert row.label in text and row.current in text and row.previous in text
    assert "▲ 7 pp" in text
    assert re.search(r"Figure \d+: Premium reaching households, 2025 and 2026", text)


def test_every_figure_in_the_structure_tree_carries_alt_text(
    sample_pdf: Path, state_of_play: Report, catalog: dict[str, Finding]
) -> None:
    alts = figures_alt(sample_pdf)
    findings = resolve_findings(state_of_play, catalog)
    assert None not in alts and all(alt.strip() for alt in alts)
    expected = [state_of_play.cover.alt, *(f.image.alt for f in findings), CHART_ALT]
    assert alts == expected


def test_figures_are_numbered_and_captioned(sample_pdf: Path, catalog: dict[str, Finding]) -> None:
    text = pdf_text(sample_pdf)
    first = catalog["field-schools-and-premium-sharing"].image.caption
    assert f"Figure 1: {first}" in text


def test_the_edition_the_release_prepares_embeds_the_indicator_table_and_charts(
    state_of_play: Report, settings: Settings, tmp_path: Path
) -> None:
    """Through the seam the reports channel uses (prepare_edition -> build_pdf)."""
    edition = prepare_edition(state_of_play, settings)
    assert edition.pdf is not None
    path = tmp_path / "edition.pdf"
    path.write_bytes(edition.pdf)
    text = pdf_text(path)
    for row in edition.rows:
        assert row.label in text
        assert f"{row.this.value if row.this else ''} {row.previous_text} {row.change_text}" in text
    headline = [row for row in edition.rows if row.id in edition.charts]
    assert headline and set(edition.charts) == {r.id for r in edition.rows if r.headline}
    alts = figures_alt(path)
    for row in headline:
        assert row.chart_alt in alts
    assert "https://" in pdf_text(path, 2, 2) or settings.site.base_url in pdf_text(path, 2, 2)


# -- repeatable -----------------------------------------------------------------------------


def test_two_builds_give_the_same_bytes_and_no_machine_path(
    state_of_play: Report, catalog: dict[str, Finding], settings: Settings
) -> None:
    first = build(state_of_play, catalog, settings, indicators=INDICATORS)
    second = build(state_of_play, catalog, settings, indicators=INDICATORS)
    assert first == second
    for leak in (str(REPO).encode(), b"/tmp", b"report-pdf-"):
        assert leak not in first


def page_image(pdf: Path, page: int, out: Path) -> Image.Image:
    run("pdftoppm", "-f", page, "-l", page, "-r", "40", "-png", "-singlefile", pdf, out)
    return Image.open(out.with_suffix(".png")).convert("L")


@pytest.mark.parametrize(("page", "name"), [(1, "cover"), (9, "finding")])
def test_pages_look_like_the_reviewed_golden_images(
    sample_pdf: Path, tmp_path: Path, page: int, name: str
) -> None:
    """Within a tolerance: mean difference under 1.5 grey levels of 255 and under 1% of pixels
    differing by more than 64. Another poppler or FreeType version antialiases edges a little
    differently (a few levels, along glyph edges); a moved line, a missing picture or another
    font changes whole blocks of pixels and fails both."""
    rendered = page_image(sample_pdf, page, tmp_path / name)
    golden_path = GOLDEN / f"pdf-{name}.png"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden_path.parent.mkdir(parents=True, exist_ok=True)
        rendered.save(golden_path, optimize=True)
    golden = Image.open(golden_path).convert("L")
    assert rendered.size == golden.size
    difference = ImageChops.difference(rendered, golden)
    mean = ImageStat.Stat(difference).mean[0]
    strong = sum(difference.point(lambda value: 255 if value > 64 else 0).histogram()[255:])
    share = strong / (golden.width * golden.height)
    assert mean < 1.5 and share < 0.01, f"page {page}: mean {mean:.2f}, {share:.2%} pixels differ"


# -- refusals -------------------------------------------------------------------------------


def test_a_figure_without_alt_text_is_refused_naming_the_report_and_the_image(
    state_of_play: Report, catalog: dict[str, Finding], settings: Settings
) -> None:
    body = state_of_play.body + "\n\n## A map\n\n![](images/farm-gate-to-fob.jpg)\n"
    report = changed(state_of_play, settings, body=body)
    with pytest.raises(ReportPdfError) as caught:
        build(report, catalog, settings)
    message = str(caught.value)
    assert "report 'state-of-play-2026'" in message
    assert "'images/farm-gate-to-fob.jpg' (chapter 'A map')" in message
    assert "alt text" in message and "![" in message
    assert isinstance(caught.value, OutreachError) and caught.value.before_any_change


def test_a_chart_without_alt_text_is_refused_naming_the_chart(
    state_of_play: Report, catalog: dict[str, Finding], settings: Settings
) -> None:
    with pytest.raises(ReportPdfError, match=r"chart 'Premium share' has none"):
        build(
            state_of_play, catalog, settings, charts=[ChartImage(CHART_SVG, " ", "Premium share")]
        )


def test_an_image_outside_the_media_folder_is_refused(
    state_of_play: Report, catalog: dict[str, Finding], settings: Settings
) -> None:
    body = state_of_play.body + "\n\n![The config](../outreach.toml)\n"
    report = changed(state_of_play, settings, body=body)
    with pytest.raises(ReportPdfError, match=r"'\.\./outreach\.toml' .* is not an image file"):
        build(report, catalog, settings)


def test_a_templates_folder_without_the_pdf_template_gets_a_clear_error(
    state_of_play: Report, catalog: dict[str, Finding], settings: Settings, tmp_path: Path
) -> None:
    paths = settings.paths.model_copy(update={"templates": tmp_path})
    elsewhere = settings.model_copy(update={"paths": paths})
    with pytest.raises(
        ReportPdfError, match=r"Typst template .*reports/report\.typ cannot be read"
    ):
        build(state_of_play, catalog, elsewhere)


def test_a_markdown_image_keeps_its_alt_text_in_the_structure_tree(
    state_of_play: Report, catalog: dict[str, Finding], settings: Settings, tmp_path: Path
) -> None:
    alt = "A ship at a quay, loaded with *containers*"
    body = state_of_play.body + f'\n\n![{alt}](images/farm-gate-to-fob.jpg "Where lots leave")\n'
    path = tmp_path / "r.pdf"
    path.write_bytes(build(changed(state_of_play, settings, body=body), catalog, settings))
    assert "A ship at a quay, loaded with containers" in figures_alt(path)
    assert re.search(r"Figure \d+: Where lots leave", pdf_text(path))


# -- hostile text stays text ----------------------------------------------------------------

HOSTILE = (
    r"Typst code #set page(fill: red) and #read(/etc/passwd) $x^2$ <label> @ref ~ \\ "
    r"// not a comment /* nor this */ = not a heading - not a list + nor this "
    r"1. not an enum http://example.org/raw {braces} [brackets] \`tick\` \*star\* \_under\_"
)
HOSTILE_SHOWN = (
    "Typst code #set page(fill: red) and #read(/etc/passwd) $x^2$ <label> @ref ~ \\ "
    "// not a comment /* nor this */ = not a heading - not a list + nor this "
    "1. not an enum http://example.org/raw {braces} [brackets] `tick` *star* _under_"
)


def test_hostile_text_in_the_markdown_and_the_front_matter_comes_out_literally(
    state_of_play: Report, catalog: dict[str, Finding], settings: Settings, tmp_path: Path
) -> None:
    title = "State of play #2026: $5 [draft] <b>@team</b> // ~"
    body = (
        f"{HOSTILE}\n\n## Chapter #1 $not math$ <x>\n\n{HOSTILE}\n\n"
        f"- item #1 {HOSTILE}\n\n> quoted #quote $y$\n\n"
        '[a link #here](https://example.org/a?b=1&c="d") and `code #"]) ` end\n'
    )
    report = changed(state_of_play, settings, title=title, body=body)
    path = tmp_path / "hostile.pdf"
    path.write_bytes(build(report, catalog, settings))
    text = pdf_text(path)
    assert pdf_info(path)["Title"] == title
    assert title in text
    assert text.count(HOSTILE_SHOWN) >= 3
    assert "Chapter #1 $not math$ <x>" in text
    assert "quoted #quote $y$" in text
    assert "a link #here" in text and 'code #"])' in text
    assert "root:" not in text  # /etc/passwd was never read


def test_every_ascii_punctuation_character_survives_typst() -> None:
    """The escaping alone, against Typst itself: every printable ASCII character, in runs
    that mean something in Typst markup (comments, math, labels, references, headings)."""
    characters = "".join(chr(code) for code in range(33, 127))
    lines = [characters, "== // /* */ $a$ <l> @r #x ~ -- --- ... 1. - + / : http://x.y"]
    source = '#set document(title: "t")\n' + "\n\n".join(escape_text(line) for line in lines)
    pdf = typst.compile(source.encode(), ignore_system_fonts=True, pdf_tags=True)
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    text = text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'}))
    # Long lines wrap on the page: compare without white space.
    assert "".join(text.split()) == "".join("".join(lines).split())


def test_headings_never_skip_a_level_so_pdf_ua_accepts_them(
    state_of_play: Report, catalog: dict[str, Finding], settings: Settings, tmp_path: Path
) -> None:
    body = state_of_play.body + "\n\n## Deep\n\n#### Skipped a level\n\ntext\n\n### Back\n"
    path = tmp_path / "deep.pdf"
    path.write_bytes(build(changed(state_of_play, settings, body=body), catalog, settings))
    assert "Skipped a level" in pdf_text(path)
    markup = markdown_to_typst("#### Four\n\n## Two\n\n##### Five\n", under_level=2)
    assert re.findall(r"level: (\d)", markup) == ["3", "3", "4"]


def test_every_markdown_construct_builds_in_pdf_ua_mode(
    state_of_play: Report, catalog: dict[str, Finding], settings: Settings, tmp_path: Path
) -> None:
    """Constructs a writer may use, together: none may make Typst refuse the document."""
    body = state_of_play.body + (
        "\n\n## Every construct\n\nsee [](https://example.org) and <https://example.org/x>\n\n"
        "[![A ship at a quay](images/farm-gate-to-fob.jpg)](https://example.org)\n\n"
        "text ![A small port](images/farm-gate-to-fob.jpg) more\n\n"
        "| | b |\n|--|--|\n| 1 | |\n\n> - a\n>   > b\n>\n> 1. c\n\n---\n\n"
        "    indented code\n\n```\nfence without language\n```\n\nhard\\\nbreak\n"
    )
    path = tmp_path / "all.pdf"
    path.write_bytes(build(changed(state_of_play, settings, body=body), catalog, settings))
    text = pdf_text(path)
    assert "indented code" in text and "fence without language" in text
    assert {"A ship at a quay", "A small port"} <= set(figures_alt(path))


def test_markdown_structure_becomes_typst_structure() -> None:
    markup = markdown_to_typst(
        "## Part\n\nSome *em* and **strong**, [a link](https://example.org) and "
        "[a script](javascript:alert(1)).\n\n1. one\n2. two\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n",
    )
    assert "#heading(level: 1)[Part]" in markup
    assert "#emph[em]" in markup and "#strong[strong]" in markup
    assert '#link("https://example.org")[a link]' in markup
    assert "javascript" in markup and '#link("javascript' not in markup
    assert "#enum(start: 1," in markup
    assert "table.header([*a*], [*b*])" in markup and "align: (left, right,)" in markup
