"""The release pipeline without Prefect: validation gates, idempotency, edits in place."""

from __future__ import annotations

import copy
import pickle
import shutil
from pathlib import Path

import pytest

from conftest import NOW
from outreach.config import Settings
from outreach.finding import FindingsInvalid
from outreach.ledger import Ledger
from outreach.release import ReleaseError, ReleaseRequest, release, run_release
from outreach.release_steps import load_catalog, load_release_catalog
from outreach.runner import PlainRunner
from process_tools import blog_release_in_fresh_process


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_second_release_publishes_nothing_new(settings: Settings) -> None:
    first = release(settings, None, None, NOW)
    assert first.changed
    before = snapshot(settings.paths.public)
    second = release(settings, None, None, NOW)
    assert second.changed == []
    assert second.summary().startswith("Nothing changed")
    assert snapshot(settings.paths.public) == before


def test_an_edited_finding_updates_its_pages_in_place(settings: Settings) -> None:
    release(settings, None, None, NOW)
    path = settings.paths.findings / "beta-cotton-traceability.md"
    path.write_text(path.read_text().replace("Traceable cotton lots", "Traceable cotton bales"))
    report = release(settings, ["beta-cotton-traceability"], None, NOW)
    changed = {r.item for r in report.changed}
    assert "blog/beta-cotton-traceability/index.html" in changed
    assert {"index.html", "feed.atom"} <= changed
    assert not any(item.startswith("blog/alpha") for item in changed)
    page = (settings.paths.public / "blog/beta-cotton-traceability/index.html").read_text()
    assert "Traceable cotton bales" in page
    assert page.count("<h1>") == 1
    # Earlier releases stay listed when one finding is released on its own.
    index = (settings.paths.public / "index.html").read_text()
    assert "alpha-cocoa-prices" in index


def test_releasing_one_finding_lists_only_released_ones(settings: Settings) -> None:
    release(settings, ["beta-cotton-traceability"], None, NOW)
    index = (settings.paths.public / "index.html").read_text()
    assert "beta-cotton-traceability" in index
    assert "alpha-cocoa-prices" not in index
    assert Ledger(settings.paths.ledger).released("blog") == {"beta-cotton-traceability"}


def test_one_invalid_finding_stops_everything(settings: Settings) -> None:
    bad = settings.paths.findings / "zeta.md"
    bad.write_text("---\nid: zeta\n---\nbody\n")
    with pytest.raises(FindingsInvalid) as caught:
        release(settings, ["alpha-cocoa-prices"], None, NOW)
    assert all(problem.file.endswith("zeta.md") for problem in caught.value.problems)
    assert not settings.paths.public.exists()
    assert not settings.paths.ledger.exists()


def test_unknown_ids_are_reported_before_anything_is_written(settings: Settings) -> None:
    with pytest.raises(
        ReleaseError, match="no finding with id 'nope'; known ids: alpha-cocoa-prices"
    ):
        release(settings, ["alpha-cocoa-prices", "nope"], None, NOW)
    assert not settings.paths.public.exists()


def test_unknown_channel_is_refused(settings: Settings) -> None:
    with pytest.raises(ReleaseError, match="no channel named 'fax'"):
        release(settings, None, ["fax"], NOW)


def test_dry_run_reports_but_writes_nothing(settings: Settings) -> None:
    report = release(settings, None, None, NOW, dry_run=True)
    assert report.changed and "would be published" in report.summary()
    assert not settings.paths.public.exists()


class RecordingRunner(PlainRunner):
    """The plain runner, noting each publish call: (site-wide or not, ids published)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[bool, set[str]]] = []

    def publish(self, settings, plans, platform, site_wide, now, dry_run):  # type: ignore[no-untyped-def]
        receipts = super().publish(settings, plans, platform, site_wide, now, dry_run)
        self.calls.append((site_wide, {r.finding_id for r in receipts}))
        return receipts


def test_a_release_in_several_batches_publishes_every_finding_before_any_index(
    settings: Settings, tmp_path: Path
) -> None:
    runner = RecordingRunner()
    report = run_release(ReleaseRequest(settings, NOW, batch_size=1), runner)
    kinds = [site_wide for site_wide, _ in runner.calls]
    first_site_wide = kinds.index(True)
    assert kinds.count(False) >= 2
    assert all(kinds[first_site_wide:]) and not any(kinds[:first_site_wide])
    published = set().union(*(ids for site_wide, ids in runner.calls if not site_wide))
    held = {hold.finding_id for hold in report.held}
    assert published == set(load_catalog(settings)) - held and len(published) >= 2
    # The same files, byte for byte, as one batch of everything.
    batched = snapshot(settings.paths.public)
    shutil.rmtree(settings.paths.public)
    shutil.rmtree(settings.paths.state)
    release(settings, None, None, NOW)
    assert snapshot(settings.paths.public) == batched


def test_the_release_keeps_bodies_on_disk_and_renders_what_was_validated(
    settings: Settings,
) -> None:
    catalog = load_release_catalog(settings)
    full = load_catalog(settings)
    finding = next(iter(catalog.values()))
    assert "body" not in finding.__dict__
    assert finding.body == full[finding.id].body
    assert finding.model_dump_json() == full[finding.id].model_dump_json()
    path = settings.paths.findings / Path(finding.source_path).name
    path.write_text(path.read_text(encoding="utf-8") + "\nA sentence added later.\n", "utf-8")
    with pytest.raises(FindingsInvalid) as caught:
        _ = finding.body
    assert "changed or went missing while the release ran" in str(caught.value)
    assert Path(finding.source_path).name in str(caught.value)


def test_site_pages_go_out_in_bounded_parts_and_stale_site_files_are_still_removed(
    settings: Settings,
) -> None:
    release(settings, None, None, NOW)
    whole = snapshot(settings.paths.public)
    # A site page an earlier release wrote that no part of this release contains.
    stale = settings.paths.public / "page" / "99" / "index.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("an index page of a bigger site", encoding="utf-8")
    Ledger(settings.paths.ledger).record(
        "", "blog", "static", "page/99/index.html", "0" * 64, "https://x.test/page/99/", NOW
    )
    runner = RecordingRunner()
    report = run_release(ReleaseRequest(settings, NOW, rebuild=True, batch_size=1), runner)
    site_calls = [ids for site_wide, ids in runner.calls if site_wide]
    assert len(site_calls) > len({r.channel for r in report.receipts})  # several parts
    removed = [r.item for r in report.receipts if r.action == "removed"]
    assert removed == ["page/99/index.html"]
    assert not stale.exists()
    # Pages published by earlier parts stay; the site is what one part of everything makes.
    assert snapshot(settings.paths.public) == whole
    assert release(settings, None, None, NOW).changed == []


def test_site_pages_kept_as_they_are_go_out_in_one_part_whatever_the_batch_size(
    settings: Settings,
) -> None:
    """Parts bound the pages rendered (memory), not those kept: a release that changes
    nothing takes one publishing lock and transaction for the site pages, not one per page."""
    release(settings, None, None, NOW)

    def site_calls(batch_size: int) -> int:
        runner = RecordingRunner()
        report = run_release(ReleaseRequest(settings, NOW, batch_size=batch_size), runner)
        assert report.changed == []
        return sum(1 for site_wide, _ in runner.calls if site_wide)

    assert site_calls(1) == site_calls(1_000) >= 1


def test_the_release_catalog_holds_only_ids_and_dates_and_reads_the_rest_back(
    settings: Settings,
) -> None:
    catalog = load_release_catalog(settings)
    full = load_catalog(settings)
    for finding_id, finding in catalog.items():
        whole = full[finding_id]
        # The id and dates, and where the rest waits on the shelf (the source path too).
        assert set(finding.__dict__) == {"id", "published", "embargo", "_shelf", "_place"}
        assert finding.source_path == whole.source_path
        for name in type(whole).model_fields:
            assert getattr(finding, name) == getattr(whole, name), name
        assert finding.model_dump(exclude={"body"}) == whole.model_dump(exclude={"body"})
        assert finding.key_stat == whole.key_stat and finding.public_from == whole.public_from
        # A copy or a pickle (a task's input) is the whole finding.
        assert pickle.loads(pickle.dumps(finding)) == whole
        assert copy.deepcopy(finding) == whole


def test_a_release_of_one_channel_does_not_load_the_other_channels(settings: Settings) -> None:
    printed = blog_release_in_fresh_process(
        settings,
        after="assert report.changed\n"
        "print(sorted(m for m in sys.modules if m.startswith('outreach.channels.')))\n",
    )
    assert printed == "['outreach.channels.base', 'outreach.channels.blog']"


def test_a_release_of_findings_alone_loads_no_report_event_or_episode_module(
    settings: Settings,
) -> None:
    """Modules only some releases need stay unloaded (a release holds what it loads to its
    end): the report and event models and the episode helpers."""
    printed = blog_release_in_fresh_process(
        settings,
        after="assert report.changed and (settings.paths.public / 'feed.atom').is_file()\n"
        "prefixes = ('outreach.reports.', 'outreach.events.', 'outreach.podcast.chapters',\n"
        "            'outreach.podcast.transcript', 'webvtt')\n"
        "print(sorted(m for m in sys.modules if m.startswith(prefixes)))\n",
    )
    assert printed == "[]"
