"""Incremental work: after an edit only what depends on the edited finding is rendered again."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from conftest import AFTER_EMBARGO
from outreach.channels.blog import BlogChannel
from outreach.config import Settings
from outreach.release import release


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts what the blog channel renders: each finding's page, and each site page."""
    seen: Counter = Counter()

    def spy(name: str, label):
        original = getattr(BlogChannel, name)

        def wrapper(self, *args, **kwargs):
            seen[label(*args)] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(BlogChannel, name, wrapper)

    spy("render_finding", lambda finding, site: f"finding:{finding.id}")
    spy("_index_page", lambda site, page: f"index:{page.number}")
    spy("_topic_page", lambda site, topic, findings: f"topic:{topic.slug}")
    spy("_topics_index", lambda site, counts: "topics")
    spy("_atom_feed", lambda findings, site: "feed")
    spy("_sitemap", lambda site, findings: "sitemap")
    spy("_files", lambda site: "files")
    return seen


def edit_summary(settings: Settings, finding_id: str, summary: str) -> None:
    path = settings.paths.findings / f"{finding_id}.md"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(
        "".join(f"summary: {summary}\n" if line.startswith("summary:") else line for line in lines)
    )


def test_an_edit_renders_only_the_finding_and_the_pages_that_list_it(
    settings: Settings, renders: Counter
) -> None:
    release(settings, None, ["blog"], AFTER_EMBARGO)
    assert renders["finding:alpha-cocoa-prices"] == 1 and renders["topics"] == 1

    renders.clear()
    again = release(settings, None, ["blog"], AFTER_EMBARGO)
    assert renders == Counter(), "nothing changed, nothing rendered"
    assert again.changed == [] and len(again.receipts) > 10

    renders.clear()
    edit_summary(settings, "alpha-cocoa-prices", "A new summary for the cocoa finding.")
    report = release(settings, None, ["blog"], AFTER_EMBARGO)
    # alpha is the oldest of three findings, alone on index page 2 (two per page); its one
    # topic is food and agriculture; the feed and sitemap list every finding.
    assert set(renders) == {
        "finding:alpha-cocoa-prices",
        "index:2",
        "topic:food-agriculture",
        "feed",
        "sitemap",
    }
    assert {r.item for r in report.changed} <= {
        "blog/alpha-cocoa-prices/index.html",
        "page/2/index.html",
        "topics/food-agriculture/index.html",
        "feed.atom",
        "sitemap.xml",
    }
    page = settings.paths.public / "blog/alpha-cocoa-prices/index.html"
    assert "A new summary for the cocoa finding." in page.read_text()


def test_a_damaged_or_deleted_file_is_rendered_and_written_again(
    settings: Settings, renders: Counter
) -> None:
    release(settings, None, ["blog"], AFTER_EMBARGO)
    public = settings.paths.public
    page = public / "blog/beta-cotton-traceability/index.html"
    good = page.read_bytes()
    page.write_text("damaged")
    (public / "topics/plastics-packaging/index.html").unlink()

    renders.clear()
    release(settings, None, ["blog"], AFTER_EMBARGO)
    assert set(renders) == {"finding:beta-cotton-traceability", "topic:plastics-packaging"}
    assert page.read_bytes() == good
    assert (public / "topics/plastics-packaging/index.html").is_file()


def test_a_template_change_renders_everything_again(settings: Settings, renders: Counter) -> None:
    release(settings, None, ["blog"], AFTER_EMBARGO)
    renders.clear()
    templates = settings.paths.templates
    # The fixture project uses the repository's templates: use a copy to change one.
    copy = settings.paths.public.parent / "templates"
    shutil.copytree(templates, copy)
    (copy / "blog" / "post.html.j2").write_text(
        (copy / "blog" / "post.html.j2").read_text() + "\n{# changed #}\n"
    )
    changed = settings.model_copy(
        update={"paths": settings.paths.model_copy(update={"templates": copy})}
    )
    release(changed, None, ["blog"], AFTER_EMBARGO)
    assert renders["finding:alpha-cocoa-prices"] == 1
    assert renders["finding:beta-cotton-traceability"] == 1
    assert renders["index:1"] == 1 and renders["feed"] == 1


def test_a_library_upgrade_renders_everything_again_feed_bodies_included(
    settings: Settings,
    renders: Counter,
    markdown_renders: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new version of a library the pages are made with (nh3 cleans every body) may change
    what it makes: kept pages and carried feed bodies are not reused across an upgrade."""
    release(settings, None, ["blog"], AFTER_EMBARGO)
    renders.clear()
    markdown_renders.clear()
    # An upgrade, as pip leaves it: a package folder holding the new version's metadata.
    upgraded = tmp_path / "venv" / "site-packages"
    (upgraded / "nh3-99.0.0.dist-info").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(upgraded))

    release(settings, None, ["blog"], AFTER_EMBARGO)
    assert renders["finding:alpha-cocoa-prices"] == 1
    assert renders["finding:beta-cotton-traceability"] == 1
    assert renders["index:1"] == 1 and renders["feed"] == 1
    assert len(markdown_renders) == 3, "every body made again, none carried"

    renders.clear()
    release(settings, None, ["blog"], AFTER_EMBARGO)
    assert renders == Counter(), "the upgrade is rendered once"


def test_the_first_release_of_a_project_renders_the_same_files_as_a_preview(
    project: Path, settings: Settings
) -> None:
    """Keys change nothing in the output: a release and a full preview agree byte for byte."""
    from outreach.release import build_preview

    release(settings, None, ["blog"], AFTER_EMBARGO)
    release(settings, None, ["blog"], AFTER_EMBARGO)
    build_preview(settings, AFTER_EMBARGO)
    built = [p for p in settings.paths.build.rglob("*") if p.is_file()]
    assert built
    for path in built:
        published = settings.paths.public / path.relative_to(settings.paths.build)
        if published.exists():  # the preview also renders channels this release left out
            assert published.read_bytes() == path.read_bytes(), path


@pytest.fixture
def markdown_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bodies the blog channel renders from Markdown (each call, cached or not)."""
    import outreach.channels.blog as blog

    seen: list[str] = []
    original = blog.render_markdown

    def counting(text: str) -> str:
        seen.append(text)
        return original(text)

    monkeypatch.setattr(blog, "render_markdown", counting)
    return seen


def edit_body(settings: Settings, finding_id: str, old: str, new: str) -> None:
    path = settings.paths.findings / f"{finding_id}.md"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def first_sentence_words(settings: Settings, finding_id: str) -> str:
    """A few words of the finding's body, to edit."""
    from outreach.finding import split_front_matter

    _, body = split_front_matter((settings.paths.findings / f"{finding_id}.md").read_text())
    return " ".join(body.split()[:4])


def test_an_edit_renders_one_body_for_the_feed_and_the_feed_matches_a_full_render(
    settings: Settings, markdown_renders: list[str]
) -> None:
    """The feed's other entries are carried from the release that last rendered the feed;
    the feed is byte for byte the one a full render (the preview) makes."""
    from outreach.release import build_preview

    release(settings, None, ["blog"], AFTER_EMBARGO)
    words = first_sentence_words(settings, "alpha-cocoa-prices")
    edit_body(settings, "alpha-cocoa-prices", words, f"{words} (revised)")
    markdown_renders.clear()
    report = release(settings, None, ["blog"], AFTER_EMBARGO)

    assert "feed.atom" in {r.item for r in report.changed}
    assert len(markdown_renders) == 1 and "(revised)" in markdown_renders[0]
    feed = (settings.paths.public / "feed.atom").read_bytes()
    assert b"(revised)" in feed
    build_preview(settings, AFTER_EMBARGO)
    assert feed == (settings.paths.build / "feed.atom").read_bytes()


def test_a_damaged_or_missing_carried_file_only_means_rendering_again(
    settings: Settings, markdown_renders: list[str]
) -> None:
    from outreach.carried import carried_path
    from outreach.release import build_preview

    release(settings, None, ["blog"], AFTER_EMBARGO)
    carried = carried_path(settings.paths.state, "blog")
    assert carried.is_file() and oct(carried.stat().st_mode & 0o777) == "0o600"
    for damage in ("{not json", None):
        if damage is None:
            carried.unlink()
        else:
            carried.write_text(damage)
        edit_summary(settings, "alpha-cocoa-prices", f"Summary after {damage!r}.")
        markdown_renders.clear()
        release(settings, None, ["blog"], AFTER_EMBARGO)
        assert len(markdown_renders) == 3, "every feed body rendered again"
        build_preview(settings, AFTER_EMBARGO)
        feed = (settings.paths.public / "feed.atom").read_bytes()
        assert feed == (settings.paths.build / "feed.atom").read_bytes()
        assert carried.is_file()


def test_findings_left_as_they_are_ride_along_and_each_batch_renders_at_most_its_size(
    settings: Settings, renders: Counter
) -> None:
    """Batches bound what is rendered (memory), not what is kept: a release that changes one
    finding publishes every finding in one batch; two changed ones with a batch size of one
    go out in two batches, each rendering one."""
    from outreach.release import ReleaseRequest, run_release
    from outreach.runner import PlainRunner

    class Counting(PlainRunner):
        def __init__(self) -> None:
            super().__init__()
            self.batches: list[set[str]] = []

        def publish(self, settings, plans, platform, site_wide, now, dry_run):  # type: ignore[no-untyped-def]
            receipts = super().publish(settings, plans, platform, site_wide, now, dry_run)
            if not site_wide:
                self.batches.append({r.finding_id for r in receipts})
            return receipts

    def run() -> tuple[Counting, Counter]:
        runner = Counting()
        renders.clear()
        run_release(
            ReleaseRequest(settings, AFTER_EMBARGO, channels=["blog"], batch_size=1), runner
        )
        return runner, Counter(k for k in renders if k.startswith("finding:"))

    first, rendered = run()
    everything = set().union(*first.batches)
    assert len(first.batches) == len(everything) >= 3 and len(rendered) == len(everything)

    edit_summary(settings, "alpha-cocoa-prices", "One edited finding.")
    one, rendered = run()
    assert one.batches == [everything] and set(rendered) == {"finding:alpha-cocoa-prices"}

    edit_summary(settings, "alpha-cocoa-prices", "Edited again.")
    edit_summary(settings, "beta-cotton-traceability", "Edited too.")
    two, rendered = run()
    assert len(two.batches) == 2 and set().union(*two.batches) == everything
    assert set(rendered) == {"finding:alpha-cocoa-prices", "finding:beta-cotton-traceability"}


def test_ledger_items_read_ahead_for_a_batch_see_what_the_batch_then_records(
    tmp_path: Path,
) -> None:
    """``load_items`` reads many findings' items in one query for the publishing transaction;
    a record or a removal in it is seen by the next ``items``, and nothing outlives it."""
    from datetime import UTC, datetime

    from outreach.ledger import Ledger

    when = datetime(2031, 1, 1, tzinfo=UTC)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.record("a", "blog", "static", "blog/a/index.html", "h1", "u", when)
    ledger.record("b", "blog", "static", "blog/b/index.html", "h1", "u", when)
    with ledger.transaction():
        ledger.load_items("blog", "static", ["a", "b", "c"])
        assert set(ledger.items("a", "blog", "static")) == {"blog/a/index.html"}
        assert ledger.items("c", "blog", "static") == {}
        ledger.record("a", "blog", "static", "blog/a/share.png", "h2", "u", when)
        ledger.forget("b", "blog", "static", "blog/b/index.html")
        ledger.record("c", "blog", "static", "blog/c/index.html", "h3", "u", when)
        assert set(ledger.items("a", "blog", "static")) == {
            "blog/a/index.html",
            "blog/a/share.png",
        }
        assert ledger.items("b", "blog", "static") == {}
        assert ledger.items("c", "blog", "static")["blog/c/index.html"].content_hash == "h3"
    with ledger.transaction():  # only addresses, for findings kept as they are
        ledger.load_items("blog", "static", ["a", "b"], whole=False)
        assert ledger.item_urls("a", "blog", "static") == {
            "blog/a/index.html": "u",
            "blog/a/share.png": "u",
        }
        ledger.record("b", "blog", "static", "blog/b/index.html", "h4", "u2", when)
        assert ledger.item_urls("b", "blog", "static") == {"blog/b/index.html": "u2"}
    # Another run's record after the transaction is seen: nothing read ahead is kept.
    Ledger(tmp_path / "ledger.sqlite").record("b", "blog", "static", "blog/b/x", "h", "u", when)
    assert set(ledger.items("b", "blog", "static")) == {"blog/b/index.html", "blog/b/x"}
    assert set(ledger.item_urls("b", "blog", "static")) == {"blog/b/index.html", "blog/b/x"}


def own_templates(settings: Settings) -> Settings:
    """The settings with a copy of the templates (the fixture project uses the repository's)."""
    copy = settings.paths.public.parent / "templates"
    shutil.copytree(settings.paths.templates, copy)
    return settings.model_copy(
        update={"paths": settings.paths.model_copy(update={"templates": copy})}
    )


def test_a_template_edit_that_keeps_its_size_and_time_still_renders_everything_again(
    settings: Settings, renders: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest of the settings, code, templates and press data is remembered beside the
    files' stats; an edit that keeps a template's size and modification time (a copy tool
    putting the time back) still changes its change time: everything is rendered again."""
    import outreach.render_keys as render_keys

    # The copies are seconds old: trust their stats as if written long ago.
    monkeypatch.setattr(render_keys, "SETTLE_NS", 0)
    settings = own_templates(settings)
    release(settings, None, ["blog"], AFTER_EMBARGO)
    release(settings, None, ["blog"], AFTER_EMBARGO)
    assert (settings.paths.state / render_keys.INPUTS_CACHE).is_file(), "the digest is kept"
    renders.clear()
    release(settings, None, ["blog"], AFTER_EMBARGO)
    assert renders == Counter(), "nothing changed, nothing rendered"

    post = settings.paths.templates / "blog" / "post.html.j2"
    before = post.stat()
    data = post.read_bytes()
    assert data.endswith(b"\n")
    post.write_bytes(data[:-1] + b" ")
    os.utime(post, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = post.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    release(settings, None, ["blog"], AFTER_EMBARGO)
    assert renders["finding:alpha-cocoa-prices"] == 1
    assert renders["index:1"] == 1 and renders["feed"] == 1


def test_a_damaged_inputs_digest_file_only_means_reading_the_inputs_again(
    settings: Settings, renders: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import outreach.render_keys as render_keys

    monkeypatch.setattr(render_keys, "SETTLE_NS", 0)
    release(settings, None, ["blog"], AFTER_EMBARGO)
    release(settings, None, ["blog"], AFTER_EMBARGO)
    remembered = settings.paths.state / render_keys.INPUTS_CACHE
    good = remembered.read_bytes()
    assert oct(remembered.stat().st_mode & 0o777) == "0o600"
    for damage in (b"{not json", b'{"signature": 1, "digest": []}', None):
        if damage is None:
            remembered.unlink()
        else:
            remembered.write_bytes(damage)
        renders.clear()
        report = release(settings, None, ["blog"], AFTER_EMBARGO)
        assert renders == Counter() and report.changed == [], "the same digest, from the bytes"
        assert remembered.read_bytes() == good


def test_inputs_changed_moments_ago_are_read_again_not_remembered(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file changed within the settle time could change again with the same stat (the
    file system's clock steps are coarse): the digest is taken from the bytes every time."""
    import outreach.render_keys as render_keys

    settings = own_templates(settings)  # copied just now: not settled
    release(settings, None, ["blog"], AFTER_EMBARGO)
    release(settings, None, ["blog"], AFTER_EMBARGO)
    assert not (settings.paths.state / render_keys.INPUTS_CACHE).exists()
