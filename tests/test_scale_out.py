"""Workers on several machines that share nothing but the state database, the bucket and the
relay: the newsletter's pace held across them, and the whole team set-up end to end.

Against real servers on loopback: Debian's PostgreSQL (tests/postgres_tools.py), aiosmtpd as
the relay (tests/smtp_tools.py), and for the end-to-end test a Prefect server, moto's S3 server
(a stand-in: no S3 server installs here) and two ``prefect worker start`` processes, each in a
folder of its own whose runs clone the repository over file:// at the deployed commit.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prefect_tools import (
    POOL,
    Worker,
    client,
    create_run,
    descendants,
    failure,
    prefect_server,
    process_workers,
    ran_by,
    tail,
    wait_terminal,
)
from state_tools import (
    confirmed_readers,
    go,
    owns_port,
    start_sender,
    stateless_env,
    worker_folder,
)

from conftest import NOW, REPO
from outreach.config import load_settings
from outreach.store import bind_state
from outreach.subscribers import SubscriberStore
from smtp_tools import Inbox

RATE = 25.0
"""Messages per second the pace test configures: slow enough for the slots to dominate the
cost of a message on a busy two-core machine."""


def most_within(times: list[float], window: float) -> int:
    """The largest number of the (sorted) times that fall within any ``window`` seconds."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
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
        "PYTHONPATH": str(REPO),
    }
    first, second = worker_folder(tmp_path, "one"), worker_folder(tmp_path, "two")
    settings = load_settings(first / "outreach.toml", environ=env)
    readers = [f"paced{n:03d}@example.com" for n in range(150)]
    confirmed_readers(SubscriberStore(settings.paths.subscribers), readers, NOW)
    processes = [start_sender(folder, env) for folder in (first, second)]
    for process in processes:  # both start together
        go(process)
    outputs = [process.communicate(timeout=120) for process in processes]
    bind_state(settings.paths.state, None)
    for process, (_, errors) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, errors

    sent = [int(output.split()[-1]) for output, _ in outputs]
    assert all(sent) and sum(sent) == len(readers), f"both workers sent a share: {sent}"
    assert sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts) == readers
    times = sorted(moment for moment, _, _ in inbox.accepted)
    rate = (len(times) - 1) / (times[-1] - times[0])
    busiest = most_within(times, 2.0)
    print(f"\npace: {rate:.1f} messages/s overall, {busiest} in the busiest 2 s (limit {RATE}/s)")
    # Each worker alone may send RATE per second: without the shared pace the two together
    # reach about twice that, far over these bounds. A message reaches the relay some time
    # after its slot (building it, the SMTP exchange, a busy machine), and that delay varies:
    # over a short window messages can bunch up (on a two-core machine at load 15, 51 in 2 s
    # while the average was 15/s), hence the 2 s window and its 50 %; without the shared pace
    # two workers send about 100 in 2 s.
    assert rate <= RATE * 1.1, f"{rate:.1f}/s overall exceeds the configured {RATE}/s"
    assert busiest <= 2 * RATE * 1.5, f"{busiest} messages in 2 s (configured {RATE}/s)"


# --- Two workers on two "machines", end to end -------------------------------------------

RELEASES = [
    "farm-gate-to-fob",  # a podcast episode: its audio, then the feed
    "field-schools-and-premium-sharing",
    "origin-government-partnerships",
    "procurement-long-term-offtake",
]
NEWSLETTER = "field-schools-and-premium-sharing"
"""Sent to SUBSCRIBERS confirmed readers of its topic (food-agriculture)."""
SUBSCRIBERS = 5000
KILL_AT = 1200
"""Worker one dies (kill -9, with every process it started) at its first newsletter message
after the relay accepted this many."""
MARKER = "Edited after the first deploy: this sentence reached the workers as a new commit."
BASE = "https://findings.example.org/"
BUCKET = "outreach-team"


@dataclass
class RecordingS3:
    """moto's S3 app behind a WSGI wrapper that keeps every PUT (path and body) in the order
    the server received them: the order the workers uploaded in."""

    app: Any
    puts: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "PUT":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b""
            environ["wsgi.input"] = io.BytesIO(body)
            with self.lock:
                self.puts.append((environ["PATH_INFO"], body))
        return self.app(environ, start_response)


@pytest.fixture
def s3_server() -> Iterator[tuple[str, RecordingS3]]:
    """moto's S3 server (a stand-in: no S3 server installs here) on loopback, recording."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    recording = RecordingS3(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, recording, True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recording
    finally:
        server.shutdown()
        thread.join()


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def kill_tree(pid: int) -> None:
    """kill -9 a worker and every process it started: a machine that vanished."""
    for each in tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)


@pytest.mark.prefect
def test_two_workers_in_their_own_clones_share_the_work_and_survive_a_kill(
    tmp_path: Path,
    postgres_server: str,
    state_database: str,
    inbox: Inbox,
    s3_server: tuple[str, RecordingS3],
) -> None:
    import boto3
    import feedparser
    import psycopg

    began = time.monotonic()
    endpoint, recording = s3_server
    # The team's repository (a bare one, reached over file://) and a writer's checkout, where
    # a finding is edited and committed after the checkout was made.
    origin, checkout = tmp_path / "origin.git", tmp_path / "checkout"
    git(tmp_path, "clone", "--quiet", "--bare", str(REPO), str(origin))
    git(tmp_path, "clone", "--quiet", origin.as_uri(), str(checkout))
    edited = checkout / "findings" / f"{NEWSLETTER}.md"
    edited.write_text(edited.read_text(encoding="utf-8") + f"\n{MARKER}\n", encoding="utf-8")
    git(checkout, "commit", "--quiet", "-am", "Edit a finding")
    git(checkout, "push", "--quiet", "origin", "HEAD")
    commit = git(checkout, "rev-parse", "HEAD")

    # The state: 5,000 confirmed readers in PostgreSQL.
    env = {
        **stateless_env(state_database),
        "OUTREACH_MAIL__SMTP_HOST": inbox.host,
        "OUTREACH_MAIL__SMTP_PORT": str(inbox.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
        "OUTREACH_CHANNELS__EVENTS__PLATFORMS": "s3",  # the repository's configuration has events
        "OUTREACH_SITE__BASE_URL": BASE,
        "OUTREACH_STORAGE__BUCKET": BUCKET,
        "OUTREACH_STORAGE__ENDPOINT_URL": endpoint,
        "OUTREACH_STORAGE__REGION": "us-east-1",
        "OUTREACH_NEWSLETTER__RATE_PER_SECOND": "400",
        "OUTREACH_NEWSLETTER__CONNECTIONS": "1",
        "OUTREACH_NEWSLETTER__BATCH_SIZE": "500",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    readers = [f"reader{n:05d}@example.com" for n in range(SUBSCRIBERS)]
    loading: list[BaseException] = []

    def load_readers() -> None:
        state = tmp_path / "state"
        bind_state(state, state_database)
        try:
            confirmed_readers(SubscriberStore(state / "subscribers.sqlite"), readers, NOW)
        except BaseException as exc:  # raised in the test's thread below
            loading.append(exc)
        finally:
            bind_state(state, None)

    loader = threading.Thread(target=load_readers)  # while the Prefect server starts
    loader.start()
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET)
    print(f"\nscale-out: set up in {time.monotonic() - began:.1f} s")

    # The Prefect server, on PostgreSQL as a team runs it; bootstrap and the team deploy.
    prefect_db = f"prefect_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {prefect_db}")
    prefect_url = postgres_server.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    (tmp_path / "prefect").mkdir()
    with prefect_server(tmp_path / "prefect", f"{prefect_url}/{prefect_db}") as server:
        tools = {
            **server.env,
            "OUTREACH_SMTP_RATE": "1000",
            "OUTREACH_GIT_REPOSITORY": origin.as_uri(),
        }
        done = subprocess.run(
            [sys.executable, "-m", "flows.bootstrap"],
            cwd=checkout,
            env=tools,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with client(server) as api:
            for n in (1, 2):
                api.create_work_queue(name=f"worker-{n}", work_pool_name=POOL)
        deploy_log = tmp_path / "deploy.log"
        with deploy_log.open("wb") as out:  # while the workers start
            deploying = subprocess.Popen(
                [sys.executable, "-m", "flows.deploy_code"],
                cwd=checkout,
                env=tools,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        # Two workers, each in a folder of its own (its runs' clones go there too).
        wanted = []
        for n in (1, 2):
            home = tmp_path / f"machine-{n}"
            (home / "tmp").mkdir(parents=True)
            worker = Worker(f"scale-out-{n}-{os.getpid()}", home / "worker.log")
            # Room for all four releases and its own newsletter run at once: a worker busy
            # with releases must not hold its share of the newsletter back until the kill.
            options = ["--limit", "6", "--work-queue", "default", "--work-queue", f"worker-{n}"]
            worker_env = {
                **env,
                "OUTREACH_LIMITS": "strict",
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "TMPDIR": str(home / "tmp"),
                "PYTHONPATH": "",  # the code comes from each run's clone
            }
            wanted.append((worker, home, options, worker_env))
        with process_workers(server, wanted) as started:
            assert deploying.wait(timeout=300) == 0, tail(deploy_log)
            with client(server) as api:
                assert api.read_variable_by_name("outreach_commit").value == commit
            loader.join()
            assert not loading, loading
            print(f"scale-out: deployed, workers up after {time.monotonic() - began:.1f} s")
            victim = started[0].process.pid
            owners: dict[int, int] = {}
            killed: list[float] = []
            accept = inbox.handle_DATA

            def owner(port: int) -> int | None:
                """Which worker's processes hold the client end of this SMTP connection."""
                if port not in owners:
                    for n, each in enumerate(started):
                        if any(owns_port(pid, port) for pid in tree(each.process.pid)):
                            owners[port] = n
                return owners.get(port)

            async def handle_DATA(server_, session, envelope):
                by = owner(session.peer[1])
                if not killed and len(inbox.accepted) >= KILL_AT and by == 0:
                    # Before this message is accepted: worker one's one connection waits
                    # for this answer, so everything it had sent is recorded.
                    kill_tree(victim)
                    killed.append(time.monotonic())
                    return "451 4.3.0 sender went away"
                return await accept(server_, session, envelope)

            inbox.handle_DATA = handle_DATA  # type: ignore[method-assign]

            workers = [each.worker for each in started]
            with client(server) as api:
                release = {"approve_pitches": False, "approve_newsletter": False}
                deployment = api.read_deployment_by_name("send-newsletter/send-newsletter")
                runs = [  # one send on each machine first: the readers split between them
                    api.create_flow_run_from_deployment(
                        deployment.id,
                        parameters={"finding_ids": [NEWSLETTER], "approve": True},
                        work_queue_name=f"worker-{n}",
                    ).id
                    for n in (1, 2)
                ]
                runs += [
                    create_run(api, "release-finding/release-finding", {"finding_id": f, **release})
                    for f in RELEASES
                ]
                # Until worker two finished its runs; worker one's stay as it left them.
                deadline = time.monotonic() + 240
                while True:
                    found = [api.read_flow_run(run) for run in runs]
                    open_ = [r for r in found if not (r.state and r.state.is_final())]
                    if killed and all(ran_by(r) != workers[1].name for r in open_):
                        break
                    if not open_ or time.monotonic() > deadline:
                        states = [(r.name, r.state_name, ran_by(r)) for r in found]
                        logs = "\n".join(tail(w.log, 30) for w in workers)
                        pytest.fail(f"killed={bool(killed)}; runs: {states}\n{logs}")
                    time.sleep(0.5)
                print(
                    f"scale-out: worker one killed after {killed[0] - began:.1f} s; worker "
                    f"two done after {time.monotonic() - began:.1f} s"
                )
                # Rerun what failed: what worker one left unfinished goes to worker two.
                from prefect.states import Crashed

                done_by: dict[str, list[str]] = {w.name: [] for w in workers}
                reruns = []
                for run in found:
                    if run.state and run.state.is_final():
                        assert run.state.is_completed(), failure(run, api)
                        done_by[ran_by(run) or "?"].append(run.name)
                        continue
                    api.set_flow_run_state(run.id, Crashed(message="its worker died"), force=True)
                    again = api.create_flow_run_from_deployment(
                        run.deployment_id, parameters=run.parameters
                    )
                    reruns.append(again.id)
                finished = wait_terminal(api, reruns, 180, workers[1:])
                for run in finished.values():
                    assert run.state.is_completed(), failure(run, api)
                    assert ran_by(run) == workers[1].name
            print(
                f"scale-out: {len(reruns)} reruns done after {time.monotonic() - began:.1f} s; "
                f"completed before the kill: {done_by}"
            )

    # Every reader received the newsletter exactly once; both workers sent some of it.
    received = Counter(r for _, rcpts, _ in inbox.accepted for r in rcpts if r in set(readers))
    assert sorted(received) == readers, f"{SUBSCRIBERS - len(received)} readers received nothing"
    twice = [r for r, count in received.items() if count > 1]
    assert not twice, f"{len(twice)} readers received two copies, e.g. {twice[:3]}"
    by_worker = Counter(owners.get(port) for _, port in inbox.peers)
    print(f"scale-out: messages by worker {dict(by_worker)}")
    assert by_worker[0] >= KILL_AT // 4 and by_worker[1] > 0, by_worker

    # One set of objects: the bucket holds exactly what the ledger says was published.
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys.update(item["Key"] for item in page.get("Contents", []))
    with psycopg.connect(state_database) as connection:
        rows = connection.execute(
            "SELECT finding_id, item FROM publications WHERE platform = 's3'"
        ).fetchall()
    assert {item for _, item in rows} == keys
    published = {finding for finding, _ in rows}
    assert set(RELEASES) <= published, published
    page = s3.get_object(Bucket=BUCKET, Key=f"blog/{NEWSLETTER}/index.html")["Body"].read()
    assert MARKER.encode() in page, "the page comes from the deployed commit"

    # No feed was uploaded before the audio it points to.
    uploaded: set[str] = set()
    feeds = 0
    for path, body in recording.puts:
        key = path.removeprefix(f"/{BUCKET}/")
        if key == "podcast/feed.xml":
            feeds += 1
            for entry in feedparser.parse(body).entries:
                for enclosure in entry.enclosures:
                    audio = enclosure.href.removeprefix(BASE)
                    assert audio in uploaded, f"feed upload {feeds} points to {audio} before it"
        uploaded.add(key)
    assert feeds and "podcast/episodes/farm-gate-to-fob.mp3" in uploaded

    # The machines kept nothing but their runs' clones: no site, no outbox, no state files.
    clones = list((tmp_path / "machine-1" / "tmp").glob("*/outreach"))
    clones += (tmp_path / "machine-2" / "tmp").glob("*/outreach")
    assert clones, "worker one's runs, killed, leave their clones behind"
    for clone in clones:
        assert git(clone, "rev-parse", "HEAD") == commit, "every run ran the deployed commit"
        untracked = git(clone, "status", "--porcelain", "--ignored", "--untracked-files=all")
        # Only caches, gone with the run's temporary folder (mastered audio in state/cache/).
        made = [
            line
            for line in untracked.splitlines()
            if "__pycache__" not in line and not line[3:].startswith("state/cache/")
        ]
        assert not made, f"a run wrote into its checkout: {made[:5]}"
    print(f"scale-out: {time.monotonic() - began:.1f} s in all")


def test_the_team_deployments_are_prefect_yaml_s_with_a_clone_of_the_deployed_commit() -> None:
    import yaml

    single = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    team = yaml.safe_load((REPO / "prefect-team.yaml").read_text(encoding="utf-8"))
    assert team["deployments"] == single["deployments"], "the two files list the same runs"
    assert {k: v for k, v in team.items() if k != "pull"} == {
        k: v for k, v in single.items() if k != "pull"
    }
    [step] = team["pull"]
    clone = step["prefect.deployments.steps.git_clone"]
    assert clone["repository"] == "{{ prefect.variables.outreach_repository }}"
    assert clone["commit_sha"] == "{{ prefect.variables.outreach_commit }}"


def test_deploying_for_cloning_workers_refuses_work_they_would_not_see(tmp_path: Path) -> None:
    from flows.bootstrap import BootstrapError
    from flows.deploy_code import deployed_code

    origin, checkout = tmp_path / "origin.git", tmp_path / "checkout"
    git(tmp_path, "init", "--quiet", "--bare", str(origin))
    git(tmp_path, "clone", "--quiet", origin.as_uri(), str(checkout))
    (checkout / "outreach.toml").write_text("[site]\n", encoding="utf-8")
    git(checkout, "add", "outreach.toml")
    git(checkout, "commit", "--quiet", "-m", "First")
    with pytest.raises(BootstrapError, match=r"is not in .*push it"):
        deployed_code(checkout, {})  # committed, not pushed
    git(checkout, "push", "--quiet", "origin", "HEAD")
    assert deployed_code(checkout, {}) == (origin.as_uri(), git(checkout, "rev-parse", "HEAD"))
    (checkout / "outreach.toml").write_text("[site]\ntitle = 'x'\n", encoding="utf-8")
    with pytest.raises(BootstrapError, match=r"uncommitted changes \(outreach.toml\)"):
        deployed_code(checkout, {})
    git(checkout, "checkout", "--quiet", "outreach.toml")
    secret = "https://team:s3cret@git.example.org/outreach.git"
    with pytest.raises(BootstrapError, match="holds a password") as refused:
        deployed_code(checkout, {"OUTREACH_GIT_REPOSITORY": secret})
    assert "s3cret" not in str(refused.value)
