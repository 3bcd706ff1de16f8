"""Makes tests/fixtures/state-v1/: a ledger and a subscriber store as schema version 1 wrote them.

They let the tests check that a user upgrading the pipeline keeps everything: the new code
must open these files, upgrade them in place and lose nothing. They were made on commit
e7ca65c (the last release before stores had schema versions) with

    .venv/bin/python tests/make_state_v1.py

which builds ``fixture_project`` in a temporary folder (the fixture findings, a short journalist
list, the blog, press kit and newsroom on the static platform, mail to the outbox, fixed signing
secrets in its state folder), then at the
test clock:

- releases every finding (gamma is held by its embargo; its press kit is rendered),
- pitches every matched journalist of every finding (ledger rows of the press pitches),
- fills the subscriber store with every status (pending, confirmed, unsubscribed, bounced,
  complained), a CSV import with its own consent source, a topic change and a sign-up mail
  claim,
- sends alpha's newsletter to the outbox (one recipient unsubscribes between the freeze and
  the send, so the send log holds 'sent' and 'skipped' rows),

and copies ``state/ledger.sqlite`` and ``state/subscribers.sqlite`` (fully checkpointed: no
-wal file is needed to read them) into tests/fixtures/state-v1/. Re-running it on a newer
commit makes files of the newer schema: only do that to make fixtures of that version.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import FIXTURES, NOW, REPO, write_config  # noqa: E402
from outreach.config import Settings, load_settings  # noqa: E402
from outreach.files import PRIVATE_FILE, atomic_write, private_folder  # noqa: E402

JOURNALISTS = """name,email,outlet,beats,regions,accepts_embargoes,opted_out
Ama Food,ama@example.com,Food Desk,food-agriculture,Ghana,yes,no
Lena Embargo,lena@example.com,Pack Daily,plastics-packaging,,yes,no
Omar Optout,omar@example.com,Pack News,plastics-packaging,,yes,yes
Priya Cotton,priya@example.com,Textile Times,apparel-textiles,India,yes,no
"""
SECRETS = {"press-secret": "state-v1-press-secret", "link-secret": "state-v1-link-secret"}
"""The signing secrets a user's state folder keeps next to the databases (press-kit addresses
in the ledger are derived from the press secret)."""
SUBSCRIBERS = {
    "food1@example.com": ("food-agriculture",),
    "food2@example.com": ("food-agriculture", "scope-3-climate"),
    "both@example.com": ("food-agriculture", "apparel-textiles"),
    "cotton@example.com": ("apparel-textiles",),
    "late-leaver@example.com": ("food-agriculture",),
}
"""Confirmed subscribers; late-leaver unsubscribes after alpha's send froze its recipients."""
IMPORTED = """email,name,topics,status,consent_at,consent_source
imported@example.com,Imported Reader,plastics-packaging,confirmed,2025-03-04T10:00:00+00:00,conference list
"""
SEND_ID = "newsletter:alpha-cocoa-prices"
TARGET = HERE / "fixtures" / "state-v1"


def fixture_project(root: Path) -> Path:
    """The project the fixtures were made in (tests rebuild it to release again)."""
    shutil.copytree(FIXTURES / "findings", root / "findings")
    shutil.copytree(FIXTURES / "media", root / "media")
    shutil.copytree(REPO / "press", root / "press")
    (root / "press" / "journalists.csv").write_text(JOURNALISTS, encoding="utf-8")
    channels = '\n[channels.press]\nplatforms = ["static"]\n\n[channels.newsroom]\nplatforms = ["static"]\n'
    for name, value in SECRETS.items():
        atomic_write(private_folder(root / "state") / name, value.encode(), PRIVATE_FILE)
    config = write_config(root, root / "findings", root / "media", channels)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(
            f'press = "{(REPO / "press").as_posix()}"', f'press = "{root.as_posix()}/press"'
        ),
        encoding="utf-8",
    )
    return root


def fixture_settings(root: Path) -> Settings:
    return load_settings(root / "outreach.toml", environ={})


def fill(settings: Settings) -> None:
    """Everything the fixtures record, done with the code of the commit it runs on."""
    from outreach.campaign import prepare_send, send_all
    from outreach.ledger import Ledger
    from outreach.newsletter import finding_issue
    from outreach.press.pitch import pitch_plan_for, send_pitches
    from outreach.release import load_catalog, release
    from outreach.subscribers import SubscriberStore

    release(settings, None, None, NOW)
    catalog = load_catalog(settings)
    ledger = Ledger(settings.paths.ledger)
    for finding_id in sorted(catalog):
        plan, _, _ = pitch_plan_for(catalog[finding_id], settings, ledger, NOW)
        send_pitches(plan, settings, ledger, NOW)

    store = SubscriberStore(settings.paths.subscribers)
    for email, topics in SUBSCRIBERS.items():
        store.sign_up(email, email.split("@")[0].title(), topics, "form", NOW)
        store.confirm(email, NOW + timedelta(minutes=5))
    store.sign_up_and_claim(
        "pending@example.com", "Pending", ("food-agriculture",), "form", NOW, timedelta(hours=1)
    )
    for email, status in (
        ("left@example.com", "unsubscribed"),
        ("bounced@example.com", "bounced"),
        ("complained@example.com", "complained"),
    ):
        store.sign_up(email, email.split("@")[0].title(), ("food-agriculture",), "form", NOW)
        store.confirm(email, NOW)
        store.set_status(email, status, NOW + timedelta(days=1))  # type: ignore[arg-type]
    store.set_topics("cotton@example.com", ("apparel-textiles", "responsible-sourcing"), NOW)
    store.import_csv(IMPORTED, "import", NOW)

    prepared = prepare_send(finding_issue(catalog["alpha-cocoa-prices"]), settings, NOW)
    store.set_status("late-leaver@example.com", "unsubscribed", NOW + timedelta(hours=1))
    send_all(prepared, settings, NOW)


def settled_copy(source: Path, target: Path) -> None:
    """Copy a WAL-mode database as one self-contained file: everything checkpointed first."""
    with sqlite3.connect(source) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    shutil.copyfile(source, target)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = fixture_settings(fixture_project(Path(folder)))
        fill(settings)
        TARGET.mkdir(parents=True, exist_ok=True)
        settled_copy(settings.paths.ledger, TARGET / "ledger.sqlite")
        settled_copy(settings.paths.subscribers, TARGET / "subscribers.sqlite")
    print(f"wrote {TARGET / 'ledger.sqlite'} and {TARGET / 'subscribers.sqlite'}")


if __name__ == "__main__":
    main()
