"""Helpers for tests of workers whose state is in PostgreSQL (tests/test_state_postgres.py,
tests/test_scale_out.py): their environment, a worker's own folder, and which worker process
a message at the SMTP server came from."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from outreach.subscribers import SubscriberStore

CHANNELS = ("blog", "podcast", "press", "newsroom", "reports")
SHARED_SECRETS = ("OUTREACH_PRESS_SECRET", "OUTREACH_LINK_SECRET", "OUTREACH_RECIPIENT_KEY")


def stateless_env(url: str) -> dict[str, str]:
    """Environment for a worker whose state is in PostgreSQL: no local platform."""
    env = {"OUTREACH_STATE__URL": url, "OUTREACH_MAIL__PLATFORM": "smtp"}
    env.update({name: f"shared-{name.lower()}" for name in SHARED_SECRETS})
    env.update({f"OUTREACH_CHANNELS__{name.upper()}__PLATFORMS": "s3" for name in CHANNELS})
    return env


SENDER = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from outreach.campaign import prepare_send, send_all
    from outreach.config import load_settings
    from outreach.newsletter import finding_issue
    from outreach.release import load_catalog
    settings = load_settings(Path(sys.argv[1]))
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
    print("ready", flush=True)
    sys.stdin.readline()  # both workers start sending together
    report = send_all(prepare_send(issue, settings, now), settings, now)
    print("sent", report.sent, flush=True)
""")


def confirmed_readers(
    people: SubscriberStore, readers: Sequence[str], now: datetime, topic: str = "food-agriculture"
) -> None:
    """``readers`` as confirmed subscribers of ``topic`` (what a newsletter send needs)."""
    people.import_csv(
        "email,topics,consent_source\n" + "".join(f"{email},{topic},test\n" for email in readers),
        "test",
        now,
    )
    for email in readers:
        people.confirm(email, now)


def start_sender(folder: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """A worker process in ``folder`` running ``SENDER``, once it says it is ready; write a
    line to its stdin (``go``) to start its send."""
    process = subprocess.Popen(
        [sys.executable, str(folder / "send.py"), str(folder / "outreach.toml")],
        env=dict(env),
        cwd=folder,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def go(process: subprocess.Popen[str]) -> None:
    """Start a ready sender's send."""
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()


def owns_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` has the TCP socket whose local port is ``port`` (read from
    /proc: which worker a message on the SMTP server came from)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    try:
        links = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # the process has ended: it holds nothing
        return False
    for link in links:
        with contextlib.suppress(OSError):
            if os.readlink(link) in inodes:
                return True
    return False


def worker_folder(root: Path, name: str) -> Path:
    """A worker's own checkout: findings, media and its own (unused) state folder."""
    from conftest import FIXTURES, write_config

    folder = root / name
    folder.mkdir()
    shutil.copytree(FIXTURES / "findings", folder / "findings")
    shutil.copytree(FIXTURES / "media", folder / "media")
    write_config(folder, folder / "findings", folder / "media")
    (folder / "send.py").write_text(SENDER)
    return folder
