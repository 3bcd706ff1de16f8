"""The audit log keeps decisions, sends and publishes in order, beside the ledger's records."""

from __future__ import annotations

from datetime import UTC, datetime

from outreach.audit import AuditLog, recipient_id
from outreach.ledger import Ledger

AT = datetime(2027, 2, 2, 9, 0, tzinfo=UTC)


def test_the_log_returns_events_in_order_and_filters_by_publication_and_time(tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger(path).record("deforestation", "blog", "static", "blog/x/index.html", "h", None, AT)
    log = AuditLog(path)
    log.record("decision", AT, publication="deforestation", actor="ana", subject="pitches",
               outcome="approved", detail={"note": "go", "recipients": 12})  # fmt: skip
    log.record("send", AT.replace(hour=10), publication="deforestation", subject="j-3",
               outcome="sent", detail={"message_id": "<1@example.org>"})  # fmt: skip
    log.record("decision", AT.replace(hour=11), publication="other", subject="newsletter",
               outcome="rejected")  # fmt: skip

    entries = list(log.entries(publication="deforestation"))
    assert [(e.event, e.outcome) for e in entries] == [("decision", "approved"), ("send", "sent")]
    assert entries[0].detail == {"note": "go", "recipients": 12}
    assert [e.publication for e in log.entries(since=AT.replace(hour=10, minute=30))] == ["other"]
    assert log.latest("decision", "other", "newsletter").outcome == "rejected"
    assert log.latest("decision", "other", "pitches") is None
    # The ledger's own records are untouched by the log living in the same file.
    assert list(Ledger(path).items("deforestation", "blog", "static")) == ["blog/x/index.html"]


def test_a_recipient_id_is_stable_and_does_not_hold_the_address():
    key = b"k" * 32
    assert recipient_id(" Ana@Example.org ", key) == recipient_id("ana@example.org", key)
    assert "example" not in recipient_id("ana@example.org", key)
    assert recipient_id("ana@example.org", key) != recipient_id("ana@example.org", b"other")


def test_events_of_one_kind_are_found_without_reading_the_whole_log(tmp_path):
    """Every release asks the log for its retractions; the log grows with every publish, so
    the events of one kind (and a gate's latest decision) are found by an index, not a pass
    over every event ever recorded."""
    import sqlite3

    path = tmp_path / "ledger.sqlite"
    log = AuditLog(path)
    log.record_many(
        [("publish", AT, {"publication": f"f{n}", "outcome": "created"}) for n in range(50)]
    )
    log.record("retraction", AT, publication="f3", outcome="retracted", detail={"note": "wrong"})
    assert [e.publication for e in log.entries(event="retraction")] == ["f3"]
    with sqlite3.connect(path) as connection:
        for query, values in (
            ("SELECT * FROM audit WHERE event = ? ORDER BY seq", ("retraction",)),
            (
                "SELECT * FROM audit WHERE event = ? AND publication = ? AND subject = ? "
                "ORDER BY seq DESC LIMIT 1",
                ("decision", "f3", "pitches"),
            ),
        ):
            plan = " ".join(
                row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {query}", values)
            )
            assert "SEARCH audit USING INDEX" in plan and "SCAN audit" not in plan, plan
    connection.close()
