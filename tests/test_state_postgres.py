"""State in PostgreSQL: the same stores and migrations, claims across processes, stateless
configuration. Against Debian's PostgreSQL started for the session (tests/postgres_tools.py)
and aiosmtpd for the newsletter; two real processes, each with its own working folder."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from state_tools import (
    confirmed_readers,
    go,
    owns_port,
    start_sender,
    stateless_env,
    worker_folder,
)

from conftest import NOW, REPO
from outreach.audit import AuditLog
from outreach.config import ConfigError, load_settings
from outreach.ledger import Ledger
from outreach.secrets_store import SecretMissing, link_secret
from outreach.sending import SendLog
from outreach.state_migrate import migrate_stores
from outreach.store import bind_state
from outreach.subscribers import SubscriberStore
from outreach.suppression import Suppressions
from smtp_tools import Inbox


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_the_stores_keep_their_code_and_migrations_on_postgresql(
    tmp_path: Path, state_database: str
) -> None:
    state = tmp_path / "state"
    bind_state(state, state_database)
    try:
        ledger = Ledger(state / "ledger.sqlite")
        ledger.record("f1", "blog", "s3", "index.html", "h1", "https://x/", NOW, "7")
        ledger.record("f1", "blog", "s3", "index.html", "h2", "https://x/", NOW)
        with ledger.transaction():
            ledger.record("f1", "blog", "s3", "a%b?.html", "h3", None, NOW)
        assert ledger.items("f1", "blog", "s3")["index.html"].remote_id == "7"  # kept
        assert ledger.items("f1", "blog", "s3")["index.html"].content_hash == "h2"
        assert "a%b?.html" in ledger.items("f1", "blog", "s3")
        ledger.record_render_keys("blog", {("f1", ""): "k1"})
        assert ledger.render_keys("blog") == {("f1", ""): "k1"}
        assert ledger.released("blog") == {"f1"}

        log = SendLog(state / "ledger.sqlite")
        assert log.freeze("s1", "Hello", ["a@x.org", "b@x.org", "a@x.org"], NOW)
        assert not log.freeze("s1", "Hello", ["c@x.org"], NOW)
        assert log.add("s1", ["b@x.org", "c@x.org"], NOW) == 1
        log.mark("s1", "a@x.org", "sent", "250 ok")
        assert log.counts("s1").sent == 1 and log.counts("s1").total == 3
        assert log.still_pending("s1", ["a@x.org", "b@x.org"]) == ["b@x.org"]
        assert list(log.pending_batches("s1", 1)) == [["b@x.org"], ["c@x.org"]]

        people = SubscriberStore(state / "subscribers.sqlite")
        people.sign_up("r@x.org", "R", ("scope-3-climate",), "form", NOW)
        assert people.confirm("r@x.org", NOW + timedelta(minutes=1))
        assert [s.email for s in people.recipients(["scope-3-climate"])] == ["r@x.org"]
        suppressed = Suppressions(state / "subscribers.sqlite", b"k" * 32)
        suppressed.add("q@x.org", "bounced", NOW)
        assert suppressed.is_suppressed("q@x.org")

        audit = AuditLog(state / "ledger.sqlite")
        audit.record("decision", NOW, publication="f1", actor="ed", subject="gate", outcome="ok")
        assert [e.actor for e in audit.entries()] == ["ed"]
        (tmp_path / "outreach.toml").write_text('[paths]\nstate = "state"\n')
        settings = load_settings(tmp_path / "outreach.toml", environ=stateless_env(state_database))
        for _ in range(2):  # what make bootstrap runs: idempotent
            assert migrate_stores(settings) == {"ledger": 1, "sends": 1, "audit": 2,
                                                "remote_marks": 1, "event-sequences": 2,
                                                "subscribers": 2, "registrations": 2}  # fmt: skip
    finally:
        bind_state(state, None)
    assert not (state / "ledger.sqlite").exists(), "no SQLite file while bound to PostgreSQL"
    found = tables(state_database)
    assert {"publications", "renders", "sends", "send_recipients", "audit"} <= found
    assert {"subscribers", "web_mail", "suppressions", "schema_migrations"} <= found
    with psycopg.connect(state_database) as connection:
        versions = connection.execute(
            "SELECT store, MAX(version), COUNT(*) FROM schema_migrations GROUP BY store"
        ).fetchall()
    # Opened many times, migrated once: one row per version of each store.
    assert sorted(versions) == [
        ("audit", 2, 2),
        ("event-sequences", 2, 2),
        ("ledger", 1, 1),
        ("registrations", 2, 2),
        ("remote_marks", 1, 1),
        ("sends", 1, 1),
        ("subscribers", 2, 2),
    ]


def test_the_send_log_and_the_ledger_wait_for_the_servers_disk_at_each_commit(
    tmp_path: Path, state_database: str
) -> None:
    """A recipient marked sent stays marked through a crash or restart of the database
    server (with synchronous_commit off it could lose acknowledged commits, and a resumed
    send would mail those people again); the ledger's records too."""
    name = state_database.rsplit("/", 1)[1]
    with psycopg.connect(state_database, autocommit=True) as admin:  # the test server's is off
        admin.execute(f"ALTER DATABASE {name} SET synchronous_commit = on")
    state = tmp_path / "state"
    bind_state(state, state_database)
    try:
        log, ledger = SendLog(state / "ledger.sqlite"), Ledger(state / "ledger.sqlite")
        log.freeze("s1", "Hello", ["a@x.org"], NOW)
        with log.connect() as connection:
            assert connection.execute("SHOW synchronous_commit").fetchone()[0] == "on"
            connection.execute(
                "UPDATE send_recipients SET state = 'sent' WHERE email = ?", ("a@x.org",)
            )
        with psycopg.connect(state_database) as other:  # committed: another session sees it
            assert other.execute("SELECT state FROM send_recipients").fetchone()[0] == "sent"
        with ledger._store.connection() as connection:
            assert connection.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    finally:
        bind_state(state, None)


def test_a_state_url_with_a_password_is_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "outreach.toml").write_text(
        '[state]\nurl = "postgresql://team:s3cret@db.example.org/outreach"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "outreach.toml", environ={})
    message = str(caught.value)
    assert "state.url" in message and "OUTREACH_STATE_PASSWORD" in message
    assert "s3cret" not in message


def test_stateless_workers_refuse_the_static_and_outbox_platforms(tmp_path: Path) -> None:
    (tmp_path / "outreach.toml").write_text(
        '[state]\nurl = "postgresql://team@db.example.org/outreach"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "outreach.toml", environ={})
    message = str(caught.value)
    assert "channels.blog.platforms: 'static'" in message
    assert "mail.platform: 'outbox'" in message and "mail.platform = 'smtp'" in message
    assert "workers are stateless" in message
    settings = load_settings(
        tmp_path / "outreach.toml", environ=stateless_env("postgresql://team@db.example.org/o")
    )
    assert settings.state.stateless
    bind_state(settings.paths.state, None)
    # Keys made on one worker's disk would be unknown to the others: they must be given.
    with pytest.raises(SecretMissing) as missing:
        link_secret(settings, environ={})
    assert "OUTREACH_LINK_SECRET" in str(missing.value)
    assert not (settings.paths.state / "link-secret").exists()
    assert link_secret(settings, environ=stateless_env("x")) == b"shared-outreach_link_secret"


def test_two_workers_on_one_database_send_each_recipient_exactly_once_despite_a_kill(
    tmp_path: Path, state_database: str, inbox: Inbox
) -> None:
    env = {
        **os.environ,
        **stateless_env(state_database),
        "OUTREACH_MAIL__SMTP_HOST": inbox.host,
        "OUTREACH_MAIL__SMTP_PORT": str(inbox.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
        "OUTREACH_NEWSLETTER__RATE_PER_SECOND": "100",
        "OUTREACH_NEWSLETTER__CONNECTIONS": "1",
        "OUTREACH_NEWSLETTER__BATCH_SIZE": "50",
        "PYTHONPATH": str(REPO),
    }
    first, second = worker_folder(tmp_path, "one"), worker_folder(tmp_path, "two")
    settings = load_settings(first / "outreach.toml", environ=env)
    readers = [f"reader{n:03d}@example.com" for n in range(300)]
    confirmed_readers(SubscriberStore(settings.paths.subscribers), readers, NOW)

    one, two = start_sender(first, env), start_sender(second, env)

    # Worker one starts; at the 30th message worker two joins; once worker two has sent ten
    # (both sending at once), worker one is killed at its next message, before the server
    # accepts it (one connection each: no other message of worker one is then between the
    # server's "250" and its record).
    accept = inbox.handle_DATA
    seen, by_two_early, killed = [0], [0], [False]

    async def handle_DATA(server, session, envelope):
        seen[0] += 1
        if seen[0] == 30:
            go(two)
        if seen[0] > 30 and not killed[0]:
            if by_two_early[0] < 10:
                by_two_early[0] += owns_port(two.pid, session.peer[1])
            elif owns_port(one.pid, session.peer[1]):
                killed[0] = True
                os.kill(one.pid, signal.SIGKILL)
                return "451 4.3.0 sender went away"
        return await accept(server, session, envelope)

    inbox.handle_DATA = handle_DATA  # type: ignore[method-assign]
    go(one)
    one.wait(timeout=300)
    output, errors = two.communicate(timeout=300)
    assert one.returncode == -signal.SIGKILL, "worker one was killed mid-send"
    assert two.returncode == 0, errors
    rerun = subprocess.run(
        [sys.executable, str(first / "send.py"), str(first / "outreach.toml")],
        env=env,
        cwd=first,
        input="go\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    received = sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts)
    assert received == readers, "every recipient exactly once"
    by_two, by_rerun = int(output.split()[-1]), int(rerun.stdout.split()[-1])
    assert by_two > 0 and by_two + by_rerun < 300, "both workers sent part of the newsletter"
    assert SendLog(settings.paths.ledger).counts("newsletter:alpha-cocoa-prices").sent == 300
    for folder in (first, second):
        assert not (folder / "state" / "ledger.sqlite").exists()
        assert not (folder / "state" / "subscribers.sqlite").exists()
    bind_state(settings.paths.state, None)


def sqlite_rows(path: Path, table: str) -> list[tuple]:
    """A table's rows read with sqlite3 itself, in one order."""
    with sqlite3.connect(path) as connection:
        return sorted(connection.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)


def test_state_migrate_copies_a_released_projects_state_row_by_row_and_only_once(
    project: Path, inbox: Inbox, state_database: str
) -> None:
    from outreach.campaign import prepare_send, send_all
    from outreach.newsletter import finding_issue
    from outreach.release import ReleaseRequest, load_catalog, run_release

    env = {
        "OUTREACH_MAIL__PLATFORM": "smtp",
        "OUTREACH_MAIL__SMTP_HOST": inbox.host,
        "OUTREACH_MAIL__SMTP_PORT": str(inbox.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
    }
    settings = load_settings(project / "outreach.toml", environ=env)
    people = SubscriberStore(settings.paths.subscribers)
    for email in ("food1@example.com", "food2@example.com"):
        people.sign_up(email, "F", ("food-agriculture",), "test", NOW)
        people.confirm(email, NOW)
    Suppressions(settings.paths.subscribers, b"k" * 32).add("gone@example.com", "bounced", NOW)
    request = ReleaseRequest(
        settings, NOW, ["alpha-cocoa-prices"], approvals={"pitches": True, "newsletter": True}
    )
    run_release(request)
    issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
    send_all(prepare_send(issue, settings, NOW), settings, NOW)  # the send log and its events
    tables_copied = {
        settings.paths.ledger: ("publications", "renders", "sends", "send_recipients", "audit"),
        settings.paths.subscribers: ("subscribers", "web_mail", "suppressions"),
    }
    assert sqlite_rows(settings.paths.ledger, "publications"), "the release published"
    assert sqlite_rows(settings.paths.ledger, "send_recipients"), "the release sent"

    command = [sys.executable, "-m", "outreach_cli", "state", "migrate", "--to", state_database]
    run_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    run_env["OUTREACH_CONFIG"] = str(project / "outreach.toml")
    copied = subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=300)
    assert copied.returncode == 0, copied.stderr
    assert "verified" in copied.stdout

    with psycopg.connect(state_database) as connection:
        for path, names in tables_copied.items():
            for table in names:
                theirs = sorted(
                    (tuple(r) for r in connection.execute(f'SELECT * FROM "{table}"')), key=repr
                )
                assert theirs == sqlite_rows(path, table), table
        # The audit log's numbering goes on after the copied events.
        connection.execute(
            "INSERT INTO audit (at, event) VALUES ('2026-06-02T00:00:00+00:00', 'decision')"
        )
        top = connection.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
        assert top == len(sqlite_rows(settings.paths.ledger, "audit")) + 1

    again = subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0
    assert "already holds state" in again.stderr + again.stdout


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server (a stand-in: no real S3 server installs here) with one bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    from conftest import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="state-pg"
    )
    try:
        yield endpoint
    finally:
        server.stop()


def test_a_second_worker_with_its_own_empty_folder_finds_the_release_done(
    tmp_path: Path, state_database: str, bucket: str
) -> None:
    import boto3

    from outreach.release import release

    env = {
        **stateless_env(state_database),
        "OUTREACH_STORAGE__BUCKET": "state-pg",
        "OUTREACH_STORAGE__ENDPOINT_URL": bucket,
        "OUTREACH_STORAGE__REGION": "us-east-1",
    }
    first, second = worker_folder(tmp_path, "one"), worker_folder(tmp_path, "two")
    try:
        done = release(load_settings(first / "outreach.toml", environ=env), None, ["blog"], NOW)
        uploaded = {r.item for r in done.changed}
        assert "index.html" in uploaded and any(i.startswith("blog/") for i in uploaded)
        client = boto3.client("s3", endpoint_url=bucket, region_name="us-east-1")
        keys = {o["Key"] for o in client.list_objects_v2(Bucket="state-pg")["Contents"]}
        assert "index.html" in keys
        # Another machine: its own checkout and an empty state folder, the same database.
        again = release(load_settings(second / "outreach.toml", environ=env), None, ["blog"], NOW)
        assert again.changed == [], "the ledger in PostgreSQL says it is all published"
        with psycopg.connect(state_database) as connection:
            published = connection.execute(
                "SELECT COUNT(*) FROM publications WHERE platform = 's3'"
            ).fetchone()[0]
            events = connection.execute(
                "SELECT COUNT(*) FROM audit WHERE event = 'publish'"
            ).fetchone()[0]
        assert published == len(keys) and events == len(uploaded)
        for folder in (first, second):
            assert not (folder / "public").exists(), "stateless: nothing written to the site"
            assert not (folder / "state" / "ledger.sqlite").exists()
    finally:
        for folder in (first, second):
            bind_state(folder / "state", None)


def demo_tables(path: Path) -> list[str]:
    """Every table a state file holds, but its migration bookkeeping."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'schema_migrations' ORDER BY name"
        ).fetchall()
    return [name for (name,) in rows]


def test_state_migrate_copies_the_demos_state_row_by_row(
    tmp_path: Path, state_database: str
) -> None:
    """``make demo``'s state (findings, reports and events released, the demo's subscribers,
    newsletters and pitches sent, registrations' stores made) moves to PostgreSQL whole:
    every table of the ledger and subscriber files, row by row."""
    for name in ("findings", "media", "press", "templates", "reports", "events"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "outreach.toml", tmp_path / "outreach.toml")
    run_env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "OUTREACH_LIMITS": "off"}
    run_env.pop("PREFECT_API_URL", None)
    demo = subprocess.run(
        [sys.executable, "-m", "outreach_cli", "release", "--all", "--demo"],
        cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    settings = load_settings(tmp_path / "outreach.toml", environ={})
    files = (settings.paths.ledger, settings.paths.subscribers)
    tables = {path: demo_tables(path) for path in files}
    assert sqlite_rows(settings.paths.ledger, "send_recipients"), "the demo sent newsletters"

    copied = subprocess.run(
        [sys.executable, "-m", "outreach_cli", "state", "migrate", "--to", state_database],
        cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stdout + copied.stderr
    with psycopg.connect(state_database) as connection:
        for path, names in tables.items():
            for table in names:
                theirs = sorted(
                    (tuple(r) for r in connection.execute(f'SELECT * FROM "{table}"')), key=repr
                )
                assert theirs == sqlite_rows(path, table), f"{path.name}: {table}"


def test_the_shared_pace_connects_again_after_the_database_dropped_it(
    state_database: str,
) -> None:
    """A send runs for hours: a database restart or a dropped idle connection costs one new
    connection, not the send; an unreachable database stops it with a retryable error."""
    from conftest import free_port
    from outreach.mail_errors import MailTransient
    from outreach.send_pace import SCHEMA, SharedPace

    with psycopg.connect(state_database, autocommit=True) as admin:
        for statement in SCHEMA.migrations[0].statements:
            admin.execute(statement)
    pace = SharedPace(state_database, "relay.example:25", 1000.0)

    def drop_its_connection() -> None:
        with psycopg.connect(state_database, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'outreach send pace'"
            )

    try:
        pace()
        drop_its_connection()
        pace()  # connected again
        with psycopg.connect(state_database) as check:
            assert check.execute("SELECT COUNT(*) FROM send_pace").fetchone()[0] == 1
        drop_its_connection()
        pace.url = f"postgresql://nobody@127.0.0.1:{free_port()}/gone"
        with pytest.raises(MailTransient, match=r"shared newsletter pace .* unreachable"):
            pace()
    finally:
        pace.close()
