"""A blog release in a new Python process, for checks that the test session's own process
cannot make: which modules a release loads, and what it forks (workers are forked only from
a process with one thread, which a test session, with its servers' threads, is not)."""

from __future__ import annotations

import subprocess
import sys

from outreach.config import Settings


def blog_release_in_fresh_process(settings: Settings, before: str = "", after: str = "") -> str:
    """Run ``before`` (imports, patches), a release of the blog channel dated 2031, then
    ``after`` (with ``report`` and ``settings`` in scope) in a new process; return what it
    printed. The process must end cleanly."""
    script = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from pathlib import Path\n"
        f"{before}"
        "from outreach.config import load_settings\n"
        "from outreach.release import release\n"
        f"settings = load_settings(Path({str(settings.root / 'outreach.toml')!r}), environ={{}})\n"
        "report = release(settings, None, ['blog'], datetime(2031, 1, 1, tzinfo=UTC))\n"
        f"{after}"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()
