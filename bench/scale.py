"""Scale: full site builds against Pelican, incremental rebuilds, Prefect overhead, memory.

Synthetic projects of 100 and 1,000 findings (600-900-word bodies assembled from the sample
findings' sections, with headings, lists, quotes, a table and links; dates spread over 2019-2030;
1-2 topics, 1-3 commodities, 1-2 regions; one of media/images/*.jpg each) are built by our blog
channel (``release(settings, None, ["blog"], now)``, fresh public/ and state/ each run) and, from
the same Markdown bodies, by Pelican in-process with its default theme, interleaved, medians of 3
(of 7 at 100 findings, where a build takes under a second).
Pelican's articles carry one extra line, the image (``{static}``), so both sites copy an image
per post; Pelican writes no sitemap (that needs a plugin).

1. Full build, per HTML page written, ours against Pelican. "Comparable work" swaps our share
   images (Pelican draws none) for a fixed tiny PNG; drawing the real share images is timed on
   its own (100 findings one after another; 1,000 in worker processes, one batch ahead, as a
   release draws them) and in full builds of their own. At 1,000 findings the third of those
   builds is the memory run's (its own process), to keep the runtime down.
2. Incremental rebuild at 1,000 findings, in a process of its own (as a team's release runs:
   a CLI or a Prefect worker), on a full build with real share images and one release
   after it (which fills the finding cache, as a project's earlier releases would; timed on
   its own): five edits of the newest finding (summary and a body sentence), each
   released, then five releases with nothing changed; asserts the edited page changed, an
   untouched page kept its mtime and a no-change release read no finding file. Goals: one
   edit <= 0.2 s, no change <= 0.1 s (the core sequence, no Prefect).
   ``python -m bench.scale --incremental`` runs this section alone, on a full build with tiny
   share PNGs (quicker; the same incremental work); ``--incremental --profile`` then profiles
   one more edit and one more no-change release (cProfile, the top 30 functions by cumulative
   and by own time), outside the timed runs.
3. Prefect overhead: one finding released through the ``release-finding`` flow on a warm, real
   ``prefect server start`` (SQLite, UI off, its own PREFECT_HOME), in a child process, against
   the same release called directly, each run into a fresh copy of a 20-finding project
   (goal: at most 0.5 s more); also counts the task runs the server recorded for a release.
4. Peak memory (VmHWM) of a 1,000-finding full build in its own process, ours and Pelican's;
   of ours on comparable work (tiny share PNGs) at 1,000 and 10,000 findings, each in its own
   process (memory must not grow with the site); and of a 100,000-subscriber newsletter send
   (bench/newsletter.py's own measurement, which needs Postfix's smtp-sink; skipped with a
   note without it).

Run with ``python -m bench.scale``; ``python -m bench.scale prefect`` runs section 3 alone,
``--incremental`` section 2 alone, ``--memory`` the 1,000-finding builds' peaks of section 4
alone (medians of 3, then 10,000 findings; ``--memory --quick`` without the 10,000).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 3
SIZES = (100, 1_000)
INCREMENTAL_RUNS = 5
"""Edits, then releases with nothing changed (a tenth of a second each): medians of five."""
SMALL_RUNS = 7
"""Builds of each side at 100 findings (under a second each): a median of seven, as one busy
moment of the machine moves a median of three at this size by a tenth or more."""
NOW = datetime(2031, 1, 1, tzinfo=UTC)
"""After every synthetic date: every finding is public."""
BASE_URL = "https://findings.example.org/"
FLOW_FINDINGS = 20
PREFECT_GOAL = 0.5
"""Seconds of Prefect overhead per release on a warm server (flow minus direct call)."""
MEMORY_SIZES = (1_000, 10_000)
"""Peak memory of comparable work (tiny share PNGs), each build in its own process: memory
must not grow with the site (goal: 10,000 at most 1.2x the 1,000 figure)."""
SUBSCRIBERS = 100_000

# -- synthetic findings -------------------------------------------------------------------

COMMODITIES = ("cocoa", "coffee", "cotton", "tea", "palm oil", "cashew", "rubber", "vanilla",
               "shea", "sugar cane", "soy", "pepper")  # fmt: skip
REGIONS = ("West Africa", "East Africa", "South Asia", "Southeast Asia", "Central America",
           "South America", "Uganda", "Ghana", "Côte d'Ivoire", "India", "Indonesia", "Peru",
           "Global")  # fmt: skip
THEMES = (
    "where value and risk sit between farm gate and port",
    "what lasting farmer training looks like",
    "premiums that reach households",
    "long-term offtake and aligned incentives",
    "traceable lots without parallel systems",
    "replanting as a cash-flow problem",
    "drying, storage and the price at the port",
    "women's incomes and the household budget",
    "climate adaptation that pays for itself",
    "cooperative books before buildings",
    "packaging that keeps contamination out",
    "living income gaps and how buyers close them",
    "jurisdictional approaches that outlast a project",
    "pre-finance, credit and the lean season",
    "Scope 3 emissions counted at the farm",
)
FORMS = (
    "{Commodity} in {region}: {theme}",
    "Country case study: {commodity} in {region}, {theme}",
    "{theme_cap}: lessons from {commodity} in {region}",
    "What {commodity} buyers learned about {theme}",
    "{Commodity} and {commodity2}: {theme}",
)
SUMMARY_FORMS = (
    "Following {commodity} from smallholder plots in {region}, we found that {claim}.",
    "Across {commodity} and {commodity2} projects in {region}, {claim}; the effect held "
    "over {years} seasons.",
    "In {region}, {claim}, most clearly where buyers committed for {years} seasons or more.",
)
CLAIMS = (
    "most losses sit in aggregation and storage rather than at the port",
    "farmer-led field schools kept new practices in use two seasons on",
    "premiums split by a published rule caused fewer disputes",
    "multi-season contracts did more than one-off training",
    "cooperatives that kept open books borrowed more easily for inputs",
    "shade trees were planted only where they paid as fruit or timber",
    "traceable lots sold faster and at a visible premium",
)
NAMES = ("Efua Ankomah", "Grace Namukasa", "Ravi Menon", "Ana Quispe", "Siti Rahma", "Kofi Mensah")


def _sample_parts() -> tuple[list[str], list[str], list[dict]]:
    """Intros and ``## `` sections of the sample bodies, and their image blocks."""
    from outreach.finding import split_front_matter

    intros, sections, images = [], [], []
    for path in sorted((REPO / "findings").glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        _, body = split_front_matter(path.read_text(encoding="utf-8"))
        parts = re.split(r"(?m)^(?=## )", body)
        intro = "\n\n".join(p for p in parts[0].strip().split("\n\n") if not p.startswith("*Fig"))
        intros.append(intro)
        sections += [part.strip() for part in parts[1:]]
        images.append(path.stem)
    return intros, sections, images


def _words(text: str) -> int:
    return len(text.split())


def _body(rnd: random.Random, number: int, intros, sections, commodity, region) -> str:
    """An intro, the illustrative-figures note, sections until 600-900 words, a link."""
    target = rnd.randint(600, 900)
    opening = (
        f"This is finding {number} of the programme's synthetic series, on {commodity} "
        f"in {region}. " + rnd.choice(intros)
    )
    closing = (
        f"The data behind finding {number}, with the method and the crop-by-crop detail, are "
        f"in the [programme report](https://example.org/reports/{number:04d}) and the "
        "[sample survey](https://example.org/survey)."
    )
    parts = [opening, "*Figures in this post are illustrative sample figures, not survey results.*"]
    words = _words(opening) + _words(parts[1]) + _words(closing)
    for section in rnd.sample(sections, len(sections)):
        if words + _words(section) > 900:
            continue
        parts.append(section)
        words += _words(section)
        if words >= target:
            break
    parts.append(closing)
    return "\n\n".join(parts) + "\n"


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def generate(root: Path, count: int, seed: int = 7) -> tuple[Path, Path]:
    """A project (``root/project/outreach.toml``) with ``count`` findings and the same articles
    as Pelican content (``root/pelican/content``). Returns both paths."""
    from outreach.topics import TOPICS

    intros, sections, images = _sample_parts()
    rnd = random.Random(seed)
    project, content = root / "project", root / "pelican" / "content"
    for name in ("press", "templates"):
        shutil.copytree(REPO / name, project / name)
    (project / "media" / "images").mkdir(parents=True)
    for stem in images:
        shutil.copy2(REPO / "media" / "images" / f"{stem}.jpg", project / "media" / "images")
    (project / "findings").mkdir()
    (content / "images").mkdir(parents=True)
    config = (REPO / "outreach.toml").read_text(encoding="utf-8")
    config = re.sub(r"(?m)^\[channels\.(?!blog\])[^\]]+\]\nplatforms = .*\n", "", config)
    config = re.sub(r'(?m)^base_url = ".*"', f'base_url = "{BASE_URL}"', config)
    (project / "outreach.toml").write_text(config, encoding="utf-8")
    start = datetime(2019, 1, 7, tzinfo=UTC)
    span = (NOW - timedelta(days=30) - start).total_seconds()
    for number in range(count):
        finding_id = f"finding-{number:04d}"
        topics = rnd.sample([t.slug for t in TOPICS], rnd.choice((1, 2, 2)))
        commodities = rnd.sample(COMMODITIES, rnd.randint(1, 3))
        regions = rnd.sample(REGIONS, rnd.randint(1, 2))
        published = start + timedelta(seconds=int(rnd.random() * span) // 900 * 900)
        words = {
            "commodity": commodities[0],
            "Commodity": commodities[0].capitalize(),
            "commodity2": rnd.choice([c for c in COMMODITIES if c != commodities[0]]),
            "region": regions[0],
            "theme": (theme := rnd.choice(THEMES)),
            "theme_cap": theme[0].upper() + theme[1:],
            "claim": rnd.choice(CLAIMS),
            "years": rnd.choice(("two", "three", "four")),
        }
        title = rnd.choice(FORMS).format(**words)
        summary = rnd.choice(SUMMARY_FORMS).format(**words)
        image = images[number % len(images)]
        alt = f"Flat-colour drawing for finding {number}: {commodities[0]} farms in {regions[0]}."
        body = _body(rnd, number, intros, sections, commodities[0], regions[0])
        stats = "".join(
            f"  - value: {_quoted(f'{rnd.randint(5, 95)}%')}\n"
            f"    label: {_quoted(rnd.choice(CLAIMS))}\n"
            '    source: "Illustrative sample figure, Durable Supply Chains Programme"\n'
            "    illustrative: true\n"
            for _ in range(rnd.randint(1, 3))
        )
        speaker = rnd.choice(NAMES)
        front = (
            f"id: {finding_id}\ntitle: {_quoted(title)}\nsummary: {_quoted(summary)}\n"
            f"published: {published.isoformat()}\n"
            f"topics: [{', '.join(topics)}]\n"
            f"commodities: [{', '.join(commodities)}]\n"
            f"regions: [{', '.join(_quoted(r) for r in regions)}]\n"
            "author: Programme research team\n"
            f"stats:\n{stats}"
            "quotes:\n"
            f"  - text: {_quoted('Prices matter more than training, and trust matters most.')}\n"
            f"    speaker: {speaker}\n"
            f"    role: {_quoted(f'cooperative chair, {regions[0]}')}\n"
            "image:\n"
            f"  file: images/{image}.jpg\n"
            f"  caption: {_quoted(f'{commodities[0].capitalize()} in {regions[0]}.')}\n"
            "  credit: Programme illustration\n  licence: CC BY 4.0\n"
            f"  alt: {_quoted(alt)}\n"
        )
        (project / "findings" / f"{finding_id}.md").write_text(
            f"---\n{front}---\n{body}", encoding="utf-8"
        )
        by_slug = {t.slug: t.name for t in TOPICS}
        tags = [*commodities, *regions, *(by_slug[slug] for slug in topics[1:])]
        os.link(
            project / "media" / "images" / f"{image}.jpg", content / "images" / f"{finding_id}.jpg"
        )
        (content / f"{finding_id}.md").write_text(
            f"Title: {title}\nDate: {published:%Y-%m-%d %H:%M}\nCategory: {by_slug[topics[0]]}\n"
            f"Tags: {', '.join(tags)}\nSummary: {summary}\nSlug: {finding_id}\n"
            "Author: Programme research team\n\n"
            f"![{alt}]({{static}}/images/{finding_id}.jpg)\n\n{body}",
            encoding="utf-8",
        )
    return project / "outreach.toml", content


# -- the two builds -----------------------------------------------------------------------

TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763"
    "f8ffff3f0005fe02fea7d6a4e90000000049454e44ae426082"
)


@contextlib.contextmanager
def share_images(real: bool) -> Iterator[None]:
    """With ``real`` False the blog channel gets a fixed tiny PNG instead of drawing one (and
    no worker draws the real ones ahead)."""
    import outreach.channels.blog as blog
    import outreach.share_image as share_image

    original, ahead = blog.share_image_for, share_image.draw_ahead
    if not real:
        blog.share_image_for = lambda *args, **kwargs: TINY_PNG
        share_image.draw_ahead = lambda *args, **kwargs: None
    try:
        yield
    finally:
        blog.share_image_for, share_image.draw_ahead = original, ahead


def fresh_output(config: Path) -> None:
    """A full build from nothing: no site, no state, and no Markdown remembered in memory."""
    from outreach.markdown import render_markdown
    from outreach.share_image import draw_share_image

    for name in ("public", "state"):
        shutil.rmtree(config.parent / name, ignore_errors=True)
    render_markdown.cache_clear()
    draw_share_image.cache_clear()


def build_ours(config: Path, ids: list[str] | None = None) -> float:
    """One release of the blog channel (all findings, or ``ids``): seconds."""
    from outreach.config import load_settings
    from outreach.release import release

    start = time.perf_counter()
    report = release(load_settings(config, environ={}), ids, ["blog"], NOW)
    elapsed = time.perf_counter() - start
    assert not report.held, report.summary()
    return elapsed


def pelican_settings(content: Path, output: Path) -> dict:
    return {
        "PATH": str(content),
        "OUTPUT_PATH": str(output),
        "SITENAME": "Durable Supply Chains",
        "SITEURL": BASE_URL.rstrip("/"),
        "RELATIVE_URLS": False,
        "TIMEZONE": "UTC",
        "DEFAULT_LANG": "en",
        "DEFAULT_PAGINATION": 10,
        "FEED_ALL_ATOM": "feeds/all.atom.xml",
        "FEED_MAX_ITEMS": 50,
        "CATEGORY_FEED_ATOM": None,
        "TRANSLATION_FEED_ATOM": None,
        "AUTHOR_FEED_ATOM": None,
        "AUTHOR_FEED_RSS": None,
        "DELETE_OUTPUT_DIRECTORY": True,
        "LOAD_CONTENT_CACHE": False,
        "CACHE_CONTENT": False,
    }


def quiet_pelican() -> None:
    import pelican.log

    pelican.log.console.quiet = True
    logging.getLogger("pelican").setLevel(logging.ERROR)


def build_pelican(content: Path, output: Path) -> float:
    """One in-process Pelican build (settings read included): seconds."""
    from pelican import Pelican
    from pelican.settings import read_settings

    start = time.perf_counter()
    Pelican(read_settings(path=None, override=pelican_settings(content, output))).run()
    return time.perf_counter() - start


def count_outputs(folder: Path) -> dict[str, int]:
    files = [path for path in folder.rglob("*") if path.is_file()]
    return {
        "html": sum(path.suffix == ".html" for path in files),
        "feeds": sum(path.name.endswith((".atom", ".atom.xml", ".rss.xml")) for path in files),
        "sitemaps": sum(path.name == "sitemap.xml" for path in files),
        "files": len(files),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class Phases:
    """Where a release's time goes: wraps the pipeline's steps (looked up as module globals,
    so patching them here changes nothing else) and adds up their wall time."""

    WRAPPED = (
        ("validate", "outreach.release_steps", "read_findings"),
        ("render", "outreach.release", "render_publications"),
        ("render", "outreach.release", "render_site_pages"),
        ("markdown", "outreach.channels.blog", "render_markdown"),
        ("publish", "outreach.runner", "publish_stage"),
        ("file writes", "outreach.files", "DeferredSync.write"),
        ("file writes", "outreach.files", "DeferredSync.settle"),
        ("ledger writes", "outreach.ledger", "Ledger.record"),
        ("render keys", "outreach.release", "remember_renders"),
    )

    def __init__(self) -> None:
        self.seconds = {name: 0.0 for name, _, _ in self.WRAPPED}

    @contextlib.contextmanager
    def active(self) -> Iterator[Phases]:
        import importlib

        undo: list[Callable[[], None]] = []
        for name, module_name, attribute in self.WRAPPED:
            owner = importlib.import_module(module_name)
            *parents, leaf = attribute.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            original = getattr(owner, leaf)
            setattr(owner, leaf, self._timed(name, original))
            undo.append(lambda owner=owner, leaf=leaf, original=original: setattr(
                owner, leaf, original))  # fmt: skip
        try:
            yield self
        finally:
            for restore in reversed(undo):
                restore()

    def _timed(self, name: str, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed

    def describe(self, total: float) -> str:
        s = self.seconds
        other = total - s["validate"] - s["render"] - s["publish"] - s["render keys"]
        return (
            f"validate {s['validate']:.2f} s, render {s['render']:.2f} s (Markdown "
            f"{s['markdown']:.2f} s), publish {s['publish']:.2f} s (file writes and flushes "
            f"{s['file writes']:.2f} s, ledger commits {s['ledger writes']:.2f} s), "
            f"recording render keys {s['render keys']:.2f} s, other {other:.2f} s"
        )


# -- 1. full builds -------------------------------------------------------------------------


def draw_share_images(config: Path) -> float:
    """Seconds to draw every finding's share image with the real function."""
    from outreach.config import load_settings
    from outreach.release import load_catalog
    from outreach.share_image import draw_share_image

    settings = load_settings(config, environ={})
    findings = list(load_catalog(settings).values())
    draw_share_image.cache_clear()
    start = time.perf_counter()
    for f in findings:
        draw_share_image(
            f.title, f.key_stat.value, f.key_stat.label, f.topics[0], settings.site.title
        )
    return time.perf_counter() - start


def draw_share_images_ahead(config: Path) -> float:
    """Seconds to draw every finding's share image as a release does: in worker processes,
    one batch ahead of this process, which takes each image in order."""
    from outreach import ahead
    from outreach.config import load_settings
    from outreach.release import BATCH_SIZE, load_catalog
    from outreach.share_image import draw_ahead, draw_share_image, share_image_args

    settings = load_settings(config, environ={})
    findings = list(load_catalog(settings).values())
    batches = [findings[i : i + BATCH_SIZE] for i in range(0, len(findings), BATCH_SIZE)]
    draw_share_image.cache_clear()
    start = time.perf_counter()
    with ahead.working_ahead() as workers:
        draw_ahead(batches[0], settings)
        for number, batch in enumerate(batches):
            if number + 1 < len(batches):
                draw_ahead(batches[number + 1], settings)
            for finding in batch:
                draw_share_image(*share_image_args(finding, settings))
        assert workers.served == len(findings), "every image came from a worker"
    elapsed = time.perf_counter() - start
    draw_share_image.cache_clear()
    return elapsed


def bench_full_build(root: Path, size: int, with_share_runs: int, runs: int = RUNS) -> dict:
    """Ours (tiny share PNGs) and Pelican interleaved, ``runs`` times each; then ours with
    real share images ``with_share_runs`` times (the last build is left in place)."""
    config, content = generate(root, size)
    output = root / "pelican" / "output"
    ours_times, pelican_times, phases = [], [], []
    for _ in range(runs):
        fresh_output(config)
        with share_images(False), Phases().active() as timer:
            ours_times.append(build_ours(config))
        phases.append((ours_times[-1], timer.seconds["validate"] + timer.seconds["render"], timer))
        shutil.rmtree(output, ignore_errors=True)
        pelican_times.append(build_pelican(content, output))
    ours_counts = count_outputs(config.parent / "public")
    pelican_counts = count_outputs(output)
    shutil.rmtree(output, ignore_errors=True)
    with_share = []
    for _ in range(with_share_runs):
        fresh_output(config)
        with share_images(True):
            with_share.append(build_ours(config))
    ours, pelican = statistics.median(ours_times), statistics.median(pelican_times)
    typical = sorted(phases, key=lambda run: run[0])[len(phases) // 2]
    rendering = statistics.median(run[1] for run in phases)
    result = {
        "size": size,
        "config": config,
        "ours": ours,
        "pelican": pelican,
        "ours_counts": ours_counts,
        "pelican_counts": pelican_counts,
        "ours_per_page": ours / ours_counts["html"],
        "pelican_per_page": pelican / pelican_counts["html"],
        "with_share": with_share,
        "phases": typical[2].describe(typical[0]),
        "rendering_per_page": rendering / ours_counts["html"],
    }
    result["ratio"] = result["ours_per_page"] / result["pelican_per_page"]
    o, p = ours_counts, pelican_counts
    print(
        f"{size:,} findings, comparable work (tiny fixed share PNG): ours {ours:.2f} s for "
        f"{o['html']:,} HTML pages + {o['feeds']} feed + {o['sitemaps']} sitemap "
        f"({o['files']:,} files), {ms(result['ours_per_page'])}/page; Pelican {pelican:.2f} s "
        f"for {p['html']:,} HTML pages + {p['feeds']} feed + {p['sitemaps']} sitemap "
        f"({p['files']:,} files), {ms(result['pelican_per_page'])}/page; ratio "
        f"{result['ratio']:.2f}x per page, {ours / pelican:.2f}x per finding (goal < 1)"
    )
    print(f"  our time, median run: {result['phases']}")
    print(
        f"  ours without publishing (validate + render, no writes): "
        f"{ms(result['rendering_per_page'])}/page = "
        f"{result['rendering_per_page'] / result['pelican_per_page']:.2f}x Pelican's whole build"
    )
    return result


def report_share_images(result: dict, drawn: float | None) -> None:
    size, ours = result["size"], result["ours"]
    runs = result["with_share"]
    full = statistics.median(runs)
    pages = result["ours_counts"]["html"]
    text = (
        f"{size:,} findings with real share images: full build {full:.2f} s "
        f"({ms(full / pages)}/page, {len(runs)} run{'s' if len(runs) > 1 else ''}), "
        f"{(full - ours) / size * 1000:.0f} ms/finding over the comparable build"
    )
    if drawn is not None:
        text += f"; drawing the {size:,} share images alone: {drawn / size * 1000:.1f} ms/image"
    print(text)


# -- 2. incremental rebuild -----------------------------------------------------------------


def release_once(config: Path, ids: list[str] | None = None):
    """One release of the blog channel: (seconds, report), starting with nothing in memory
    (as a new process would: a CLI or Prefect run)."""
    from outreach.config import load_settings
    from outreach.markdown import render_markdown
    from outreach.release import release

    render_markdown.cache_clear()
    start = time.perf_counter()
    report = release(load_settings(config, environ={}), ids, ["blog"], NOW)
    return time.perf_counter() - start, report


def edit_finding(path: Path, number: int) -> str:
    """Change the summary and the body's first sentence; returns the new summary."""
    summary = f"Revised summary {number}: an editorial pass sharpened what this finding says."
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^summary: .*$", f"summary: {_quoted(summary)}", text, count=1)
    text, edits = re.subn(
        r"This is finding (\d+)(?: \(revised \d+\))? of",
        rf"This is finding \1 (revised {number}) of",
        text,
        count=1,
    )
    assert edits == 1, path
    path.write_text(text, encoding="utf-8")
    return summary


def bench_incremental(config: Path, full: float, comparable: float) -> dict:
    """Edits of the newest finding (its post, index page 1, its topic pages, the feed and the
    sitemap list it), each followed by a release; then releases with nothing changed. Runs on
    the full build (real share images) left in ``config``'s project."""
    from outreach.config import load_settings
    from outreach.release import load_catalog, newest_first

    order = newest_first(load_catalog(load_settings(config, environ={})).values())
    edited, untouched = order[0].id, order[-1].id
    public = config.parent / "public"
    page = public / "blog" / edited / "index.html"
    others = [public / "blog" / untouched / name for name in ("index.html", "share.png")]
    stamps = [path.stat().st_mtime_ns for path in others]
    edits = []
    with share_images(True):
        # A full build starts with no state folder, so it leaves no finding cache: the first
        # release after it fills it, as any earlier release of a real project would have.
        filling, report = release_once(config)
        assert not report.changed, report.summary()
        for number in range(1, INCREMENTAL_RUNS + 1):
            before = page.read_bytes()
            summary = edit_finding(config.parent / "findings" / f"{edited}.md", number)
            with Phases().active() as timer:
                cpu = time.process_time()
                seconds, report = release_once(config)
                cpu = time.process_time() - cpu
            after = page.read_bytes()
            assert after != before and summary.encode() in after, "the edited page did not change"
            assert [p.stat().st_mtime_ns for p in others] == stamps, "an untouched page changed"
            edits.append((seconds, timer, [receipt.item for receipt in report.changed], cpu))
        quiet_runs = []
        for _ in range(INCREMENTAL_RUNS):
            with Phases().active() as timer, counted_reads() as reads:
                cpu = time.process_time()
                seconds, report = release_once(config)
                cpu = time.process_time() - cpu
            assert not report.changed, report.summary()
            assert reads == [], f"a release with nothing changed read {len(reads)} findings"
            quiet_runs.append((seconds, timer, cpu))
    assert [p.stat().st_mtime_ns for p in others] == stamps
    edit, timer, rewritten, _ = sorted(edits, key=lambda run: run[0])[len(edits) // 2]
    quiet, quiet_timer, _ = sorted(quiet_runs, key=lambda run: run[0])[len(quiet_runs) // 2]
    edit_cpu = statistics.median(run[3] for run in edits)
    quiet_cpu = statistics.median(run[2] for run in quiet_runs)
    print(
        f"incremental at 1,000 findings: one finding edited (summary and a body sentence) "
        f"-> {edit:.3f} s (goal <= 0.2 s), {len(rewritten)} files rewritten "
        f"({', '.join(rewritten)}), "
        f"{edit / full:.1%} of the full build just before ({full:.1f} s), "
        f"{edit / comparable:.1%} of the comparable build ({comparable:.1f} s); "
        f"no change -> {quiet:.3f} s (goal <= 0.1 s; {quiet / full:.1%} / "
        f"{quiet / comparable:.1%}), no finding file read; checked: the edited page changed, "
        f"{untouched}'s page and share image kept their mtimes "
        f"(medians of {INCREMENTAL_RUNS}; load average {os.getloadavg()[0]:.1f})"
    )
    print(
        f"  this process's CPU time (medians; steadier than wall time when the machine is "
        f"busy or its cores are slowed by their neighbours): edit {edit_cpu:.3f} s, no change "
        f"{quiet_cpu:.3f} s"
    )
    print(f"  edit run: {timer.describe(edit)}")
    print(f"  no-change run: {quiet_timer.describe(quiet)}")
    print(f"  (the first release after the full build, filling the finding cache: {filling:.2f} s)")
    return {"edit": edit, "quiet": quiet, "full": full, "comparable": comparable}


@contextlib.contextmanager
def counted_reads() -> Iterator[list[str]]:
    """The finding files read and validated meanwhile (the finding cache supplies the rest)."""
    import outreach.finding as finding

    original, reads = finding.read_finding, []

    def counting(path, *args, **kwargs):
        reads.append(str(path))
        return original(path, *args, **kwargs)

    finding.read_finding = counting
    try:
        yield reads
    finally:
        finding.read_finding = original


def main_incremental(profile: bool = False) -> None:
    """Section 2 alone, on a full build with tiny share PNGs (``--incremental``); with
    ``profile``, then where an edit's and a no-change release's time goes."""
    print("== scale: incremental rebuild ==")
    with tempfile.TemporaryDirectory(prefix="outreach-scale-") as temp:
        config, _ = generate(Path(temp), 1_000)
        fresh_output(config)
        with share_images(False):
            full = build_ours(config)
        bench_incremental(config, full, full)
        if profile:
            profile_incremental(config)


def profile_incremental(config: Path, top: int = 30) -> None:
    """cProfile of one edit of the newest finding and one release with nothing changed (the
    same start conditions as the timed runs), their top functions by cumulative and own time."""
    import cProfile
    import io
    import pstats

    from outreach.config import load_settings
    from outreach.release import load_catalog, newest_first

    edited = newest_first(load_catalog(load_settings(config, environ={})).values())[0].id
    with share_images(False):
        for label in ("one edit", "no change"):
            if label == "one edit":
                edit_finding(config.parent / "findings" / f"{edited}.md", INCREMENTAL_RUNS + 1)
            profiler = cProfile.Profile()
            profiler.enable()
            seconds, report = release_once(config)
            profiler.disable()
            print(f"\nprofile, {label} ({seconds:.3f} s under cProfile, "
                  f"{len(report.changed)} files rewritten):")  # fmt: skip
            for order in ("cumulative", "tottime"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
                lines = out.getvalue().splitlines()
                start = next(i for i, line in enumerate(lines) if "ncalls" in line)
                print(f"  by {order}:")
                for line in lines[start : start + top + 1]:
                    print(f"  {line.replace(str(REPO) + '/', '')[:150]}")


# -- 3. Prefect overhead ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environ(**extra: str) -> dict[str, str]:
    """This environment without the developer's Prefect and outreach settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "OUTREACH_"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env.update(extra)
    return env


@contextlib.contextmanager
def prefect_server(folder: Path) -> Iterator[str]:
    """``prefect server start`` on SQLite in its own PREFECT_HOME; yields the API URL."""
    port = free_port()
    log = folder / "server.log"
    env = clean_environ(PREFECT_HOME=str(folder / "server-home"), PREFECT_UI_ENABLED="false")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "prefect"), "server", "start",
             "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=folder, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{api}/health", timeout=2) as answer,
            ):
                if answer.status == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the Prefect server did not start:\n{tail}")
            time.sleep(0.25)
        yield api
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)
                process.wait(10)


def prefect_child(template: Path) -> dict:
    """In a process whose PREFECT_API_URL names the server: the flow against the direct call,
    each run releasing one finding into a fresh copy of the same small project."""
    import flows.common
    from flows.release import release_finding
    from outreach.config import load_settings
    from outreach.release import release

    flows.common.clock = lambda: NOW  # flows take no clock parameter: the harness sets it
    finding_id = "finding-0000"
    work = Path(tempfile.mkdtemp(prefix="runs-", dir=template.parent.parent))

    def copy(name: str) -> Path:
        shutil.copytree(template, work / name)
        return work / name / "outreach.toml"

    warm = release_finding(finding_id, ["blog"], config=str(copy("warm")))
    assert warm.changed, warm.summary()
    release(load_settings(copy("warm-direct")), [finding_id], ["blog"], NOW)
    flow_times, direct_times, flow_cpu, direct_cpu = [], [], [], []
    for run in range(RUNS):
        config = copy(f"flow-{run}")
        start, cpu = time.perf_counter(), time.process_time()
        state = release_finding(finding_id, ["blog"], config=str(config), return_state=True)
        flow_times.append(time.perf_counter() - start)
        flow_cpu.append(time.process_time() - cpu)
        report = state.result()
        assert report.changed, report.summary()
        config = copy(f"direct-{run}")
        start, cpu = time.perf_counter(), time.process_time()
        direct = release(load_settings(config), [finding_id], ["blog"], NOW)
        direct_times.append(time.perf_counter() - start)
        direct_cpu.append(time.process_time() - cpu)
        assert len(direct.changed) == len(report.changed), (direct.summary(), report.summary())
    tasks = task_runs_of(state.state_details.flow_run_id)
    return {
        "flow": flow_times,
        "direct": direct_times,
        "flow_cpu": flow_cpu,
        "direct_cpu": direct_cpu,
        "files": len(report.changed),
        "tasks": tasks,
    }


def task_runs_of(flow_run_id) -> dict[str, int]:
    """The task runs the server recorded for one flow run, counted by task name. The server
    records them from the run's events, a moment after the run: read until two reads agree."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    only = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    counts: dict[str, int] = {}
    with get_client(sync_client=True) as client:
        for _ in range(40):
            runs = client.read_task_runs(flow_run_filter=only)
            seen: dict[str, int] = {}
            for run in runs:
                name = re.sub(r"-[0-9a-f]{3}$", "", run.name)  # a run's name: task-name-a1b
                seen[name] = seen.get(name, 0) + 1
            if seen and seen == counts:
                break
            counts = seen
            time.sleep(0.5)
    return dict(sorted(counts.items()))


def bench_prefect(root: Path) -> dict | None:
    config, _ = generate(root / "flow", FLOW_FINDINGS)
    start = time.perf_counter()
    with prefect_server(root) as api:
        ready = time.perf_counter() - start
        env = clean_environ(
            PREFECT_API_URL=api,
            PREFECT_HOME=str(root / "client-home"),
            OUTREACH_LIMITS="off",
        )
        child = subprocess.run(
            [sys.executable, "-m", "bench.scale", "--prefect", str(config.parent)],
            capture_output=True, text=True, cwd=REPO, env=env,
        )  # fmt: skip
    if child.returncode != 0:
        print(f"Prefect overhead: the run failed, skipped:\n{child.stderr[-3000:]}")
        return None
    result = json.loads(child.stdout.strip().splitlines()[-1])
    flow, direct = statistics.median(result["flow"]), statistics.median(result["direct"])
    result.update(flow_median=flow, direct_median=direct, overhead=flow - direct)
    print(
        f"Prefect overhead (server on SQLite ready in {ready:.1f} s, warmed by one flow run): "
        f"release-finding of 1 finding into a fresh {FLOW_FINDINGS}-finding project "
        f"({result['files']} files) {flow:.2f} s through the flow vs {direct:.2f} s called "
        f"directly: overhead {flow - direct:.2f} s (goal <= {PREFECT_GOAL} s); "
        f"{sum(result['tasks'].values())} task runs per release ({describe_tasks(result)})"
    )
    cpu = statistics.median(result["flow_cpu"]) - statistics.median(result["direct_cpu"])
    print(
        f"  the release process's CPU time (all its threads; less sensitive to a busy machine, "
        f"the server's own work not included): {statistics.median(result['flow_cpu']):.2f} s "
        f"through the flow vs {statistics.median(result['direct_cpu']):.2f} s directly: "
        f"{cpu:.2f} s more"
    )
    return result


def describe_tasks(result: dict) -> str:
    return ", ".join(f"{name} {count}" for name, count in result["tasks"].items()) or "none"


def prefect_only() -> None:
    """Section 3 alone (``python -m bench.scale prefect``), for work on the flows."""
    print(f"(load average {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory(prefix="outreach-scale-") as temp:
        bench_prefect(Path(temp))
    print(f"(load average {os.getloadavg()[0]:.1f})")


# -- 4. peak memory ----------------------------------------------------------------------------


def run_child(*args: str, echo: bool = False) -> dict:
    """``python -m bench.scale *args`` in a fresh process: the JSON of its last line (the
    lines before it printed here with ``echo``)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.scale", *args], capture_output=True, text=True, cwd=REPO
    )
    if out.returncode != 0:  # a check failed in the child: show what it said, then stop
        print(out.stdout, out.stderr, sep="\n", file=sys.stderr)
        out.check_returncode()
    lines = out.stdout.strip().splitlines()
    if echo:
        print("\n".join(lines[:-1]), flush=True)
    return json.loads(lines[-1])


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_child(kind: str, *paths: str) -> dict:
    """A full build in this (fresh) process: seconds, and the memory high-water mark."""
    from bench.newsletter import peak_memory_mb

    if kind in ("ours", "ours-comparable"):
        config = Path(paths[0])
        import outreach.release  # noqa: F401  (imports before the baseline reading)

        fresh_output(config)
        before = current_rss_mb()
        with share_images(kind == "ours"):
            seconds = build_ours(config)
        peak = peak_memory_mb()  # before counting the pages: listing 33,000 paths takes 10 MB
        pages = count_outputs(config.parent / "public")["html"]
    else:
        content, output = Path(paths[0]), Path(paths[1])
        quiet_pelican()
        import pelican.settings  # noqa: F401

        shutil.rmtree(output, ignore_errors=True)
        before = current_rss_mb()
        seconds = build_pelican(content, output)
        peak = peak_memory_mb()
        pages = count_outputs(output)["html"]
    return {"seconds": seconds, "peak_mb": peak, "before_mb": before, "html": pages}


def bench_memory_scale(root: Path, config_1000: Path) -> dict[int, dict]:
    """Our full build on comparable work (tiny share PNGs) at each of MEMORY_SIZES, each in
    its own process: the peak must not grow with the number of findings."""
    results: dict[int, dict] = {}
    for size in MEMORY_SIZES:
        config = config_1000 if size == 1_000 else generate(root / f"memory-{size}", size)[0]
        results[size] = run_child("--peak", "ours-comparable", str(config))
        print(
            f"peak memory, {size:,}-finding full build, comparable work (tiny share PNGs), own "
            f"process (VmHWM): {results[size]['peak_mb']:.0f} MB "
            f"({results[size]['before_mb']:.0f} MB after imports; build "
            f"{results[size]['seconds']:.1f} s, {results[size]['html']:,} pages)"
        )
    first, last = (results[size]["peak_mb"] for size in (MEMORY_SIZES[0], MEMORY_SIZES[-1]))
    print(
        f"  {MEMORY_SIZES[-1]:,} against {MEMORY_SIZES[0]:,} findings: {last / first:.2f}x "
        "(goal <= 1.2x)"
    )
    return results


def main_memory(quick: bool = False) -> None:
    """The builds' peak memory alone (``--memory``): RUNS rounds, each of our full build with
    share images, ours on comparable work (tiny share PNGs) and Pelican's, every build in its
    own process on the same 1,000 findings, then ours on comparable work at 10,000 findings
    (not with ``--quick``). Medians; the peak is VmHWM from each process's start, read after
    its imports (ours: ``import outreach.release``; Pelican's: ``pelican.settings``)."""
    print(f"== scale: peak memory == (load average {os.getloadavg()[0]:.1f})")
    runs: dict[str, list[dict]] = {"ours": [], "ours-comparable": [], "pelican": []}
    with tempfile.TemporaryDirectory(prefix="outreach-scale-") as temp:
        root = Path(temp)
        config, content = generate(root / "1000", 1_000)
        output = str(root / "1000" / "pelican" / "output")
        for number in range(RUNS):
            for kind in runs:
                paths = (str(config),) if kind != "pelican" else (str(content), output)
                runs[kind].append(run_child("--peak", kind, *paths))
            print(
                f"  run {number + 1}: "
                + ", ".join(f"{kind} {r[-1]['peak_mb']:.1f} MB" for kind, r in runs.items())
            )
        medians = {
            kind: {
                key: statistics.median(r[key] for r in results) for key in ("peak_mb", "before_mb")
            }
            for kind, results in runs.items()
        }
        theirs = medians["pelican"]["peak_mb"]
        for kind, label in (
            ("ours", "ours, with share images"),
            ("ours-comparable", "ours, comparable work (tiny share PNGs)"),
            ("pelican", "Pelican"),
        ):
            m = medians[kind]
            versus = (
                "" if kind == "pelican" else f"; {m['peak_mb'] - theirs:+.1f} MB against Pelican"
            )
            print(
                f"peak memory, 1,000-finding full build, own process (VmHWM), median of {RUNS}: "
                f"{label} {m['peak_mb']:.1f} MB ({m['before_mb']:.1f} MB after imports, build "
                f"{m['peak_mb'] - m['before_mb']:.1f} MB){versus}"
            )
        if not quick:
            large = generate(root / "10000", MEMORY_SIZES[-1])[0]
            result = run_child("--peak", "ours-comparable", str(large))
            first = medians["ours-comparable"]["peak_mb"]
            print(
                f"peak memory, {MEMORY_SIZES[-1]:,}-finding full build, comparable work, own "
                f"process: {result['peak_mb']:.1f} MB ({result['before_mb']:.1f} MB after "
                f"imports): {result['peak_mb'] / first:.2f}x the 1,000 figure (goal <= 1.2x)"
            )
    print(f"(load average {os.getloadavg()[0]:.1f})")


def bench_newsletter_memory() -> dict | None:
    """bench/newsletter.py's own measurement: a full send to SUBSCRIBERS in a fresh process."""
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not Path(binary).exists():
        print(f"newsletter memory: Postfix's smtp-sink is missing; skipped ({SUBSCRIBERS:,})")
        return None
    from bench import newsletter

    try:
        with newsletter.smtp_sink() as (_, port), tempfile.TemporaryDirectory() as temp:
            config = newsletter.make_project(Path(temp), SUBSCRIBERS, port)
            return newsletter.in_subprocess(config)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"newsletter memory: could not run smtp-sink or the send ({exc}); skipped")
        return None


# -- the run ------------------------------------------------------------------------------------


def main() -> None:
    began = time.perf_counter()
    quiet_pelican()
    print("== scale ==")
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="outreach-scale-") as temp:
        root = Path(temp)
        results = {}
        for size in SIZES:
            with_share_runs = RUNS if size < 1000 else RUNS - 1
            results[size] = bench_full_build(
                root / str(size), size, with_share_runs, SMALL_RUNS if size < 1000 else RUNS
            )
            if size == SIZES[0]:
                drawn = statistics.median(
                    draw_share_images(results[size]["config"]) for _ in range(RUNS)
                )
                report_share_images(results[size], drawn)
        small, large = results[SIZES[0]], results[1_000]
        from outreach.ahead import worker_count

        ahead_1000 = statistics.median(
            draw_share_images_ahead(large["config"]) for _ in range(RUNS)
        )
        print(
            f"1,000 share images drawn as a release draws them ({worker_count()} worker "
            f"processes, one batch ahead): {ahead_1000:.1f} s (goal <= 10 s on 2 cores; one "
            f"after another in one process: about {drawn / small['size'] * 1000:.0f} s)"
        )
        # In a process of its own, as a team's release runs (a CLI or a Prefect worker): not
        # in this one, which holds what a dozen full builds and Pelican's left behind.
        incremental = run_child(
            "--incremental-on",
            str(large["config"]),
            str(large["with_share"][-1]),
            str(large["ours"]),
            echo=True,
        )
        ours_peak = run_child("--peak", "ours", str(large["config"]))
        large["with_share"].append(ours_peak["seconds"])
        report_share_images(large, None)
        print("  (the third full build with share images is the memory run's, in its own process)")
        pelican_content = root / "1000" / "pelican" / "content"
        pelican_peak = run_child(
            "--peak", "pelican", str(pelican_content), str(root / "1000" / "pelican" / "output")
        )
        print(
            f"peak memory, 1,000-finding full build in its own process (VmHWM): ours "
            f"{ours_peak['peak_mb']:.0f} MB (with share images; {ours_peak['before_mb']:.0f} MB "
            f"after imports), Pelican {pelican_peak['peak_mb']:.0f} MB "
            f"({pelican_peak['before_mb']:.0f} MB after imports)"
        )
        scaled = bench_memory_scale(root, large["config"])
        own, theirs = scaled[1_000], pelican_peak
        print(
            f"  the same 1,000 findings, each build once in its own process (the memory runs): "
            f"ours on comparable work {own['seconds']:.2f} s ({ms(own['seconds'] / own['html'])}"
            f"/page), Pelican {theirs['seconds']:.2f} s "
            f"({ms(theirs['seconds'] / theirs['html'])}/page): "
            f"{(own['seconds'] / own['html']) / (theirs['seconds'] / theirs['html']):.2f}x per "
            "page (one run each, not medians)"
        )
        mail = bench_newsletter_memory()
        if mail:
            print(
                f"peak memory, newsletter send to {mail['sent']:,} subscribers "
                f"(bench/newsletter.py's measurement, own process): {mail['peak_mb']:.0f} MB "
                f"(send took {mail['seconds']:.0f} s, {mail['per_second']:,.0f} msg/s)"
            )
        prefect = bench_prefect(root)

    print(f"\nScale (medians of {RUNS}; of {SMALL_RUNS} for the 100-finding builds)")
    for size in SIZES:
        r = results[size]
        summary.append(
            f"{size:,} findings: ours {ms(r['ours_per_page'])}/page "
            f"({r['ours_counts']['html']:,} pages) vs Pelican {ms(r['pelican_per_page'])}/page "
            f"({r['pelican_counts']['html']:,} pages): {r['ratio']:.2f}x "
            f"(whole build {r['ours']:.2f} s vs {r['pelican']:.2f} s: "
            f"{r['ours'] / r['pelican']:.2f}x; ours before publishing "
            f"{ms(r['rendering_per_page'])}/page: "
            f"{r['rendering_per_page'] / r['pelican_per_page']:.2f}x)"
        )
    summary.append(
        f"share images: {drawn / small['size'] * 1000:.0f} ms each in one process; 1,000 "
        f"drawn by workers {ahead_1000:.1f} s; full build with them: "
        + ", ".join(
            f"{size:,} findings {statistics.median(results[size]['with_share']):.1f} s"
            for size in SIZES
        )
    )
    full_1000 = statistics.median(large["with_share"])
    summary.append(
        f"incremental at 1,000: edit {incremental['edit']:.3f} s (goal <= 0.2 s) = "
        f"{incremental['edit'] / full_1000:.1%} of the full build with share images "
        f"({incremental['edit'] / incremental['comparable']:.1%} of the comparable one), "
        f"no change {incremental['quiet']:.3f} s (goal <= 0.1 s) = "
        f"{incremental['quiet'] / full_1000:.1%}"
    )
    if prefect:
        summary.append(
            f"Prefect overhead: {prefect['flow_median']:.2f} s flow - "
            f"{prefect['direct_median']:.2f} s direct = {prefect['overhead']:.2f} s (goal <= "
            f"{PREFECT_GOAL} s), {sum(prefect['tasks'].values())} task runs per release"
        )
    else:
        summary.append("Prefect overhead: not measured (see above)")
    summary.append(
        f"peak memory: 1,000-finding build {ours_peak['peak_mb']:.0f} MB (Pelican "
        f"{pelican_peak['peak_mb']:.0f} MB); "
        + f"comparable work {scaled[1_000]['peak_mb']:.0f} MB at 1,000 findings, "
        f"{scaled[10_000]['peak_mb']:.0f} MB at 10,000 "
        f"({scaled[10_000]['peak_mb'] / scaled[1_000]['peak_mb']:.2f}x; goal <= 1.2x, and 1,000 "
        f"<= Pelican); "
        + (
            f"{mail['sent']:,}-subscriber send {mail['peak_mb']:.0f} MB"
            if mail
            else "newsletter send not measured"
        )
    )
    for line in summary:
        print(f"  {line}")
    print(f"  (benchmark runtime {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--peak":
        print(json.dumps(peak_child(sys.argv[2], *sys.argv[3:])))
    elif len(sys.argv) == 3 and sys.argv[1] == "--prefect":
        print(json.dumps(prefect_child(Path(sys.argv[2]))))
    elif sys.argv[1:] == ["prefect"]:
        prefect_only()
    elif sys.argv[1:2] == ["--memory"] and sys.argv[2:] in ([], ["--quick"]):
        main_memory(quick=sys.argv[2:] == ["--quick"])
    elif len(sys.argv) == 5 and sys.argv[1] == "--incremental-on":
        config, full, comparable = Path(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(bench_incremental(config, full, comparable)))
    elif sys.argv[1:2] == ["--incremental"] and sys.argv[2:] in ([], ["--profile"]):
        main_incremental(profile=sys.argv[2:] == ["--profile"])
    else:
        main()
