"""A release's receipts wait on disk, not in memory, and read back as they were published."""

from __future__ import annotations

import copy
import pickle

import pytest

from conftest import NOW
from outreach import receipt_log
from outreach.config import Settings
from outreach.receipt_log import ReceiptLog
from outreach.release import release
from outreach.vocabulary import Receipt


def _receipt(number: int, action: str = "created") -> Receipt:
    return Receipt("blog", "static", f"f{number}", f"blog/f{number}/index.html", action,  # type: ignore[arg-type]
                   f"https://example.org/blog/f{number}/")  # fmt: skip


def test_receipts_read_back_in_order_from_the_file_and_the_unfilled_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(receipt_log, "CHUNK", 4)
    receipts = [_receipt(n) for n in range(10)]
    log = ReceiptLog()
    log.extend(receipts[:3])
    log.extend(receipts[3:])
    assert len(log._chunks) == 2 and len(log._buffer) == 2, "two full chunks went to the file"
    assert list(log) == receipts and len(log) == 10
    assert [log[n] for n in range(-10, 10)] == receipts + receipts
    assert log[2:5] == receipts[2:5] and log == receipts
    with pytest.raises(IndexError):
        log[10]
    assert list(log.select(lambda r: r.finding_id in ("f1", "f8"))) == [receipts[1], receipts[8]]
    assert list(pickle.loads(pickle.dumps(log))) == receipts
    assert list(copy.deepcopy(log)) == receipts


def test_a_release_reports_every_file_with_its_receipts_on_disk(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receipt_log, "CHUNK", 3)
    report = release(settings, None, None, NOW)
    assert isinstance(report.receipts, ReceiptLog) and report.receipts._chunks
    published = sorted(
        p.relative_to(settings.paths.public).as_posix()
        for p in settings.paths.public.rglob("*")
        if p.is_file()
    )
    static = sorted(r.item for r in report.receipts if r.platform == "static")
    assert static == published
    assert len(report.changed) == len(report.receipts)
    assert report.summary().startswith(f"{len(report.receipts)} created (0 unchanged)")
    assert ("(site)", "blog", "static", settings.site.base_url) in report.live_links()
    again = release(settings, None, None, NOW)
    assert again.changed == [] and again.summary().startswith("Nothing changed")
