"""Two runs on one state folder at once: nobody gets a second copy.

The test holds a unit's lock itself, starts the runs, reads their output until each says it
waits (and for whom), then lets go: the runs race for real, and the SMTP server (aiosmtpd)
counts what each person received. No sleeps: every wait is for a line or an exit."""

from __future__ import annotations

import multiprocessing
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from conftest import NOW, REPO
from outreach.config import Settings, load_settings
from outreach.ledger import Ledger
from outreach.locks import hold, lock_path
from outreach.sending import SendLog
from outreach.subscribers import SubscriberStore
from smtp_tools import Inbox

WAIT = 240
"""Seconds before a run that never reaches the expected line counts as stuck."""

FOOD = ["food1@example.com", "food2@example.com", "both@example.com"]
NEWSLETTER_FROM = "newsletter@example.org"
"""The newsletter's sender (the default); pitches come from the press contact."""
COTTON = ["both@example.com", "cotton1@example.com", "cotton2@example.com"]


def smtp_env(inbox: Inbox) -> dict[str, str]:
    return {
        "OUTREACH_MAIL__PLATFORM": "smtp",
        "OUTREACH_MAIL__SMTP_HOST": inbox.host,
        "OUTREACH_MAIL__SMTP_PORT": str(inbox.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
        "OUTREACH_NEWSLETTER__BATCH_SIZE": "2",
    }


def subscribe(settings: Settings) -> None:
    store = SubscriberStore(settings.paths.subscribers)
    topics = {
        "food1@example.com": ("food-agriculture",),
        "food2@example.com": ("food-agriculture",),
        "both@example.com": ("food-agriculture", "apparel-textiles"),
        "cotton1@example.com": ("apparel-textiles",),
        "cotton2@example.com": ("apparel-textiles",),
    }
    for email, chosen in topics.items():
        store.sign_up(email, email.split("@")[0].title(), chosen, "test", NOW)
        store.confirm(email, NOW)


class Run:
    """One ``outreach`` process whose output (stdout and stderr) is read line by line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]):
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        # The Prefect server is the test's choice: none (embedded) unless ``env`` names one.
        inherited = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "outreach_cli", *args],
            cwd=cwd,
            env={**inherited, **env, "COLUMNS": "1000", "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str) -> str:
        """The next line containing ``text`` (fails if the run ends or stalls first)."""
        while True:
            try:
                line = self._queue.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no line with {text!r} in {WAIT} s:\n{self.output}")
            if line is None:
                pytest.fail(f"the run ended without a line with {text!r}:\n{self.output}")
            self.lines.append(line)
            if text in line:
                return line

    def finish(self) -> int:
        code = self.process.wait(timeout=WAIT)
        while (line := self._queue.get(timeout=WAIT)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        run.stop()


def received(inbox: Inbox, newsletter: bool) -> Counter[str]:
    """Messages accepted per recipient: newsletters (from the newsletter's address) or not."""
    counts: Counter[str] = Counter()
    for _, recipients, raw in inbox.accepted:
        sender = message_from_bytes(raw, policy=policy.default)["From"].addresses[0].addr_spec
        if (sender == NEWSLETTER_FROM) == newsletter:
            counts.update(recipients)
    return counts


def sent_by_each(runs: list[Run], finding_id: str) -> list[int]:
    """How many newsletters each run says it sent (each run must say it)."""
    pattern = re.compile(rf"Newsletter '{finding_id}'(?: \(resumed\))?: (\d+) sent, ")
    counts = []
    for run in runs:
        found = pattern.search(run.output)
        assert found, run.output
        counts.append(int(found[1]))
    return counts


def waiting_line(unit: str) -> str:
    return f"Waiting for {unit}: pid {os.getpid()} on host {socket.gethostname()} since "


def test_a_run_waits_for_the_lock_and_names_who_holds_it(settings: Settings) -> None:
    unit = "sending newsletter:alpha-cocoa-prices"
    messages: list[str] = []
    noticed, done = threading.Event(), threading.Event()

    def notice(message: str) -> None:
        messages.append(message)
        noticed.set()

    def second_run() -> None:
        with hold(settings.paths.state, unit, notice):
            done.set()

    with hold(settings.paths.state, unit):
        waiter = threading.Thread(target=second_run)
        waiter.start()
        assert noticed.wait(WAIT), "the second holder says it waits"
        assert not done.is_set(), "and does not go ahead while the first holds the lock"
    waiter.join(WAIT)
    assert done.is_set()
    [message] = messages
    assert message.startswith(waiting_line(unit)), message
    assert str(lock_path(settings.paths.state, unit)) in message
    assert lock_path(settings.paths.state, unit).read_text() == "", "released: nobody holds it"


def test_the_lock_of_a_killed_run_is_free_at_once(settings: Settings) -> None:
    script = (
        "import sys, pathlib\n"
        "from outreach.locks import hold\n"
        "with hold(pathlib.Path(sys.argv[1]), 'publishing to static'):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(settings.paths.state)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=WAIT)
    messages: list[str] = []
    with hold(settings.paths.state, "publishing to static", messages.append):
        pass
    assert messages == [], "a crashed run leaves no lock behind"


def project_env(project: Path, inbox: Inbox, prefect_api: str | None) -> dict[str, str]:
    """Press and newsletter channels on, mail over SMTP, subscribers signed up; the
    environment runs use (a Prefect server's API, or embedded defaults with None)."""
    config = project / "outreach.toml"
    config.write_text(
        config.read_text()
        + '\n[channels.press]\nplatforms = ["static"]\n'
        + "\n[channels.newsletter]\nplatforms = []\n"
    )
    env = {**smtp_env(inbox), "OUTREACH_LIMITS": "off"}
    env |= {"PREFECT_API_URL": prefect_api} if prefect_api else {}
    subscribe(load_settings(config, environ=env))
    return env


@pytest.mark.prefect
def test_two_releases_at_once_pitch_and_mail_everyone_once(
    prefect_api: str, project: Path, inbox: Inbox, runs: list[Run]
) -> None:
    env = project_env(project, inbox, prefect_api)
    state = load_settings(project / "outreach.toml", environ=env).paths.state
    pitching, sending = "pitching alpha-cocoa-prices", "sending newsletter:alpha-cocoa-prices"
    args = ["release", "alpha-cocoa-prices", "--approve", "--config", "outreach.toml"]
    args += ["-c", "blog", "-c", "press", "-c", "newsletter"]
    pitch_lock, send_lock = ExitStack(), ExitStack()
    with send_lock, pitch_lock:
        pitch_lock.enter_context(hold(state, pitching))
        send_lock.enter_context(hold(state, sending))
        runs += [Run(args, project, env), Run(args, project, env)]
        for run in runs:  # both published, had the pitches approved, and wait to send them
            run.wait_for(waiting_line(pitching))
        pitch_lock.close()  # the runs race for the pitches; the newsletter is still held
        for run in runs:
            run.wait_for(waiting_line(sending))
    # Now they race for the newsletter.
    assert [run.finish() for run in runs] == [0, 0], "\n\n".join(r.output for r in runs)

    pitches, newsletters = received(inbox, newsletter=False), received(inbox, newsletter=True)
    assert sorted(newsletters.elements()) == sorted(FOOD), newsletters
    assert pitches and set(pitches.values()) == {1}, pitches
    outputs = sorted((run.output for run in runs), key=lambda out: "meanwhile" in out)
    assert f"Pitched 'alpha-cocoa-prices' to {len(pitches)} journalist(s) via smtp." in outputs[0]
    assert (
        f"Pitched 'alpha-cocoa-prices' to 0 journalist(s) via smtp ({len(pitches)} pitched "
        "meanwhile by another run)." in outputs[1]
    )
    assert sum(sent_by_each(runs, "alpha-cocoa-prices")) == len(FOOD)


@pytest.mark.prefect
def test_two_newsletter_sends_at_once_mail_each_subscriber_once(
    project: Path, inbox: Inbox, runs: list[Run]
) -> None:
    """On embedded defaults: the runs send directly, without Prefect (each keeps its own
    Prefect home all the same, as it would if a command started a temporary server)."""
    env = project_env(project, inbox, None)
    state = load_settings(project / "outreach.toml", environ=env).paths.state
    sending = "sending newsletter:beta-cotton-traceability"
    args = ["newsletter", "send", "beta-cotton-traceability", "--approve", "--config",
            "outreach.toml"]  # fmt: skip
    # Two servers starting at once on a busy machine can take longer than Prefect's 20 s.
    embedded = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(WAIT)}
    with hold(state, sending):
        runs += [
            Run(args, project, {**env, **embedded, "PREFECT_HOME": str(project / f".prefect-{n}")})
            for n in (1, 2)
        ]
        for run in runs:
            run.wait_for(waiting_line(sending))
    assert [run.finish() for run in runs] == [0, 0], "\n\n".join(r.output for r in runs)
    assert sorted(received(inbox, newsletter=True).elements()) == sorted(COTTON)
    assert sum(sent_by_each(runs, "beta-cotton-traceability")) == len(COTTON)


def _open_stores(path: str, barrier: Any) -> str | None:
    barrier.wait()  # every process opens the new files at the same moment
    try:
        SendLog(Path(path) / "ledger.sqlite")
        Ledger(Path(path) / "ledger.sqlite")
        SubscriberStore(Path(path) / "subscribers.sqlite")
    except Exception as exc:
        return repr(exc)
    return None


def test_new_stores_opened_by_several_processes_at_once_all_open(tmp_path: Path) -> None:
    """Two runs starting together both switch a new database to WAL; SQLite may refuse the
    second at once ("database is locked") without waiting: neither run may fail for that."""
    context = multiprocessing.get_context("spawn")
    failures = []
    with context.Manager() as manager, context.Pool(6) as pool:
        for trial in range(20):
            folder = tmp_path / str(trial)
            folder.mkdir()
            barrier = manager.Barrier(6)
            results = pool.starmap(_open_stores, [(str(folder), barrier)] * 6)
            failures += [result for result in results if result]
    assert failures == []


def test_three_releases_at_once_on_embedded_defaults_all_succeed_without_a_traceback(
    project: Path, inbox: Inbox, runs: list[Run]
) -> None:
    """Three ``outreach release`` commands at once, no Prefect server configured: each runs
    the release directly (no temporary server to fight over), waits its turn at the state's
    locks, says so in one line, and finishes; everyone is mailed once."""
    env = project_env(project, inbox, None)
    state = load_settings(project / "outreach.toml", environ=env).paths.state
    publishing = "publishing to static"
    args = ["release", "alpha-cocoa-prices", "--approve", "--config", "outreach.toml"]
    args += ["-c", "blog", "-c", "press", "-c", "newsletter"]
    with hold(state, publishing):
        runs += [Run(args, project, env) for _ in range(3)]
        for run in runs:  # all three validated and rendered, and wait to publish
            run.wait_for(waiting_line(publishing))
    codes = [run.finish() for run in runs]
    outputs = "\n\n".join(run.output for run in runs)
    assert codes == [0, 0, 0], outputs
    assert "Traceback" not in outputs and "database is locked" not in outputs
    assert "temporary server" not in outputs, "no run starts a Prefect server of its own"
    assert (project / "public" / "blog" / "alpha-cocoa-prices" / "index.html").is_file()
    pitches, newsletters = received(inbox, newsletter=False), received(inbox, newsletter=True)
    assert sorted(newsletters.elements()) == sorted(FOOD), newsletters
    assert pitches and set(pitches.values()) == {1}, pitches
    assert sum(sent_by_each(runs, "alpha-cocoa-prices")) == len(FOOD)
