"""Workers on several machines that share nothing but the state database, the bucket and the
relay: the newsletter's pace held across them, and the whole team set-up end to end.

Against real servers on loopback: Debian's PostgreSQL (tests/postgres_tools.py), aiosmtpd as
the relay (tests/smtp_tools.py), and for the end-to-end test a Prefect server, moto's S3 server
(a stand-in: no S3 server installs here) and two ``prefect worker start`` processes, each in a
folder of its own whose runs clone the repository over file:// at the deployed commit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from state_tools import stateless_env, worker_folder

from conftest import NOW
from outreach.config import load_settings
from outreach.store import bind_state
from outreach.subscribers import SubscriberStore
from smtp_tools import Inbox

RATE = 25.0
"""Messages per second the pace test configures: slow enough for the slots to dominate the
cost of a message on a busy two-core machine."""


def most_in_a_second(times: list[float]) -> int:
    """The largest number of the (sorted) times that fall within any one second."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_two_workers_together_keep_to_the_configured_newsletter_rate(
    tmp_path: Path, state_database: str, inbox: Inbox
) -> None:
    env = {
        **os.environ,
        **stateless_env(state_database),
        "OUTREACH_MAIL__SMTP_HOST": inbox.host,
        "OUTREACH_MAIL__SMTP_PORT": str(inbox.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
        "OUTREACH_NEWSLETTER__RATE_PER_SECOND": str(RATE),
        "OUTREACH_NEWSLETTER__CONNECTIONS": "2",
        "OUTREACH_NEWSLETTER__BATCH_SIZE": "20",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    first, second = worker_folder(tmp_path, "one"), worker_folder(tmp_path, "two")
    settings = load_settings(first / "outreach.toml", environ=env)
    readers = [f"paced{n:03d}@example.com" for n in range(150)]
    people = SubscriberStore(settings.paths.subscribers)
    people.import_csv(
        "email,topics,consent_source\n"
        + "".join(f"{email},food-agriculture,test\n" for email in readers),
        "test",
        NOW,
    )
    for email in readers:
        people.confirm(email, NOW)

    processes = []
    for folder in (first, second):
        process = subprocess.Popen(
            [sys.executable, str(folder / "send.py"), str(folder / "outreach.toml")],
            env=env,
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        processes.append(process)
    for process in processes:  # both start together
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = [process.communicate(timeout=120) for process in processes]
    bind_state(settings.paths.state, None)
    for process, (_, errors) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, errors

    sent = [int(output.split()[-1]) for output, _ in outputs]
    assert all(sent) and sum(sent) == len(readers), f"both workers sent a share: {sent}"
    assert sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts) == readers
    times = sorted(moment for moment, _, _ in inbox.accepted)
    rate = (len(times) - 1) / (times[-1] - times[0])
    busiest = most_in_a_second(times)
    print(f"\npace: {rate:.1f} messages/s overall, {busiest} in the busiest second (limit {RATE})")
    # Each worker alone may send RATE per second: without the shared pace the two together
    # reach about twice that, far over these bounds.
    assert rate <= RATE * 1.1, f"{rate:.1f}/s overall exceeds the configured {RATE}/s"
    assert busiest <= RATE + 3, f"{busiest} messages in one second (configured {RATE}/s)"
